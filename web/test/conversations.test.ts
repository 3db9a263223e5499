// The client's pure state: dedupe by (conversation, seq), gap detection, unread counts, and the
// URLs and delays the link uses. Run with `npm test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { reconnectDelay } from '../src/backoff';
import { ConversationStore, directId, peerOf } from '../src/conversations';
import { nodeUrl, originUrl, reconnectUrl, redirectUrl } from '../src/endpoints';
import type { Message } from '../src/wire';

function message(conversation: string, seq: number, sender = 'bob'): Message {
  return { conversation, seq, sender, senderDevice: 'd', clientMsgId: BigInt(seq), serverTimeMs: seq, text: `m${seq}` };
}

test('a duplicate push changes nothing', () => {
  const store = new ConversationStore('alice');
  assert.equal(store.add(message('d:alice:bob', 1)), null);
  assert.equal(store.add(message('d:alice:bob', 1)), null);
  assert.equal(store.get('d:alice:bob')!.messages.size, 1);
  assert.equal(store.get('d:alice:bob')!.unread, 1);
});

test('a push past a gap asks for a pull after the last seq held', () => {
  const store = new ConversationStore('alice');
  store.add(message('g:team', 1));
  assert.equal(store.add(message('g:team', 4)), 1);
  assert.equal(store.pullFrom('g:team'), 1);
  store.add(message('g:team', 2));
  assert.equal(store.add(message('g:team', 3)), null);
  assert.equal(store.pullFrom('g:team'), 4);
});

test('sync sets head and read cursors; reading clears unread', () => {
  const store = new ConversationStore('alice');
  store.applySync([{ conversation: 'd:alice:bob', headSeq: 7, readSeq: 4, firstSeq: 1, peer: 'bob' }]);
  const conversation = store.get('d:alice:bob')!;
  assert.equal(conversation.unread, 3);
  assert.equal(conversation.peer, 'bob');
  assert.ok(store.markRead('d:alice:bob', 7));
  assert.equal(conversation.unread, 0);
  assert.ok(!store.markRead('d:alice:bob', 5), 'a cursor never moves back');
});

test('own messages are read; history pages find the start', () => {
  const store = new ConversationStore('alice');
  store.add(message('g:team', 10, 'alice'));
  assert.equal(store.get('g:team')!.unread, 0);
  assert.ok(!store.get('g:team')!.atStart);
  store.addHistory('g:team', [message('g:team', 8), message('g:team', 9)], false);
  assert.ok(store.get('g:team')!.atStart);
  assert.deepEqual(store.get('g:team')!.sorted().map((m) => m.seq), [8, 9, 10]);
});

test('conversation ids', () => {
  assert.equal(directId('bob', 'alice'), 'd:alice:bob');
  assert.equal(peerOf('d:alice:bob', 'alice'), 'bob');
  assert.equal(peerOf('d:alice:bob', 'bob'), 'alice');
  assert.equal(peerOf('g:team', 'alice'), 'team');
});

test('WebSocket URLs follow the page scheme; no ws_port means no URL', () => {
  assert.equal(originUrl({ protocol: 'https:', host: 'chat.example.org' }), 'wss://chat.example.org/ws');
  assert.equal(originUrl({ protocol: 'http:', host: '127.0.0.1:7780' }), 'ws://127.0.0.1:7780/ws');
  assert.equal(redirectUrl('https:', '10.0.0.2', 7443), 'wss://10.0.0.2:7443/ws');
  assert.equal(redirectUrl('https:', '::1', 7443), 'wss://[::1]:7443/ws');
  assert.equal(redirectUrl('https:', '10.0.0.2', 0), null);
});

test('reconnects go home, then to the page node, then to every other node in turn', () => {
  const home = 'wss://10.0.0.2:7443/ws';
  const origin = 'wss://10.0.0.1:7443/ws';
  const known = [origin, home, nodeUrl('https:', '10.0.0.3:7443'), nodeUrl('https:', '[::1]:7443')];
  assert.equal(known[3], 'wss://[::1]:7443/ws');
  const order = [0, 1, 2, 3, 4].map((attempt) => reconnectUrl(attempt, home, origin, known));
  assert.deepEqual(order, [home, origin, 'wss://10.0.0.3:7443/ws', 'wss://[::1]:7443/ws', home]);
  assert.equal(reconnectUrl(1, null, origin, []), origin);
  assert.equal(reconnectUrl(1, null, origin, [nodeUrl('http:', '127.0.0.1:7782')]), 'ws://127.0.0.1:7782/ws');
});

test('reconnect delays double up to 8 s, jittered down by at most half', () => {
  assert.equal(reconnectDelay(0, () => 1), 250);
  assert.equal(reconnectDelay(1, () => 1), 500);
  assert.equal(reconnectDelay(20, () => 1), 8000);
  assert.equal(reconnectDelay(20, () => 0), 4000);
});
