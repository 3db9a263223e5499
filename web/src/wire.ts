// The client protocol's frames (schemas/client.fbs) as plain objects. One WebSocket message
// carries one Envelope: the bytes the native protocol puts after its length prefix. Nothing
// else in the client touches FlatBuffers.
import * as flatbuffers from 'flatbuffers';
import * as w from '../gen/client_generated';

export const PROTOCOL_VERSION = 1;

export interface Message {
  conversation: string;
  seq: number;
  sender: string;
  senderDevice: string;
  clientMsgId: bigint;
  serverTimeMs: number;
  text: string;
}

export interface ConversationState {
  conversation: string;
  headSeq: number;
  readSeq: number;
  firstSeq: number;
  peer: string;
}

export type FriendState = 'none' | 'pending-out' | 'pending-in' | 'accepted';
export interface Friend {
  user: string;
  state: FriendState;
  online: boolean;
}

export interface GroupInfo {
  group: string;
  name: string;
  owner: string;
  memberCount: number;
}

// Requests the client sends. Field names follow the schema.
export type Request =
  | { kind: 'hello'; clientName: string }
  | { kind: 'register'; user: string; password: string }
  | { kind: 'login'; user: string; password?: string; token?: string; device: string }
  | { kind: 'logout'; allDevices: boolean }
  | { kind: 'ping'; nonce: bigint }
  | { kind: 'send'; toUser?: string; toGroup?: string; clientMsgId: bigint; text: string }
  | { kind: 'ack'; conversation: string; seq: number }
  | { kind: 'sync' }
  | { kind: 'pull'; conversation: string; afterSeq: number; limit: number }
  | { kind: 'history'; conversation: string; beforeSeq: number; limit: number }
  | { kind: 'friend-request' | 'friend-accept' | 'friend-decline' | 'friend-remove'; user: string }
  | { kind: 'friend-list' }
  | { kind: 'group-create'; group: string; name: string; members: string[] }
  | { kind: 'my-groups' };

// Frames the node sends: replies (reqId echoes the request) and pushes (reqId 0).
export type Reply =
  | { kind: 'error'; code: number; message: string }
  | {
      kind: 'hello-ok';
      node: string;
      maxBodyBytes: number;
      heartbeatIntervalMs: number;
      clusterWsNodes: string[];
    }
  | { kind: 'login-ok'; user: string; device: string; token: string; node: string }
  | { kind: 'redirect'; host: string; port: number; wsPort: number; node: string }
  | { kind: 'ok' }
  | { kind: 'pong' }
  | { kind: 'send-ack'; conversation: string; seq: number; clientMsgId: bigint }
  | { kind: 'deliver'; message: Message }
  | { kind: 'sync-result'; conversations: ConversationState[] }
  | { kind: 'message-batch'; conversation: string; messages: Message[]; more: boolean }
  | { kind: 'friend-list-result'; friends: Friend[] }
  | { kind: 'friend-event'; user: string; event: 'requested' | 'accepted' | 'declined' | 'removed' }
  | { kind: 'presence'; user: string; online: boolean }
  | { kind: 'my-groups-result'; groups: GroupInfo[] }
  | { kind: 'group-event'; group: string; event: string; user: string; by: string }
  | { kind: 'resync'; reason: string; spreadMs: number }
  | { kind: 'unknown'; bodyType: number };

export interface Envelope {
  reqId: number;
  reply: Reply;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: false });

function str(b: flatbuffers.Builder, value: string | undefined): flatbuffers.Offset {
  return value === undefined ? 0 : b.createString(value);
}

function encodeBody(b: flatbuffers.Builder, r: Request): [w.Body, flatbuffers.Offset] {
  switch (r.kind) {
    case 'hello':
      return [w.Body.Hello, w.Hello.createHello(b, PROTOCOL_VERSION, str(b, r.clientName))];
    case 'register':
      return [w.Body.Register, w.Register.createRegister(b, str(b, r.user), str(b, r.password))];
    case 'login':
      return [
        w.Body.Login,
        w.Login.createLogin(b, str(b, r.user), str(b, r.password), str(b, r.token), str(b, r.device)),
      ];
    case 'logout':
      return [w.Body.Logout, w.Logout.createLogout(b, r.allDevices)];
    case 'ping':
      return [w.Body.Ping, w.Ping.createPing(b, r.nonce)];
    case 'send': {
      const to = str(b, r.toUser);
      const group = str(b, r.toGroup);
      const body = w.Send.createBodyVector(b, utf8.encode(r.text));
      return [w.Body.Send, w.Send.createSend(b, to, group, r.clientMsgId, body)];
    }
    case 'ack':
      return [w.Body.Ack, w.Ack.createAck(b, str(b, r.conversation), BigInt(r.seq))];
    case 'sync':
      w.Sync.startSync(b);
      return [w.Body.Sync, w.Sync.endSync(b)];
    case 'pull':
      return [w.Body.Pull, w.Pull.createPull(b, str(b, r.conversation), BigInt(r.afterSeq), r.limit)];
    case 'history':
      return [
        w.Body.History,
        w.History.createHistory(b, str(b, r.conversation), BigInt(r.beforeSeq), r.limit),
      ];
    case 'friend-request':
      return [w.Body.FriendRequest, w.FriendRequest.createFriendRequest(b, str(b, r.user))];
    case 'friend-accept':
      return [w.Body.FriendAccept, w.FriendAccept.createFriendAccept(b, str(b, r.user))];
    case 'friend-decline':
      return [w.Body.FriendDecline, w.FriendDecline.createFriendDecline(b, str(b, r.user))];
    case 'friend-remove':
      return [w.Body.FriendRemove, w.FriendRemove.createFriendRemove(b, str(b, r.user))];
    case 'friend-list':
      w.FriendList.startFriendList(b);
      return [w.Body.FriendList, w.FriendList.endFriendList(b)];
    case 'group-create': {
      const group = str(b, r.group);
      const name = str(b, r.name);
      const members = w.GroupCreate.createMembersVector(
        b,
        r.members.map((m) => b.createString(m)),
      );
      return [w.Body.GroupCreate, w.GroupCreate.createGroupCreate(b, group, name, members)];
    }
    case 'my-groups':
      w.MyGroups.startMyGroups(b);
      return [w.Body.MyGroups, w.MyGroups.endMyGroups(b)];
  }
}

export function encodeRequest(reqId: number, request: Request): Uint8Array {
  const b = new flatbuffers.Builder(256);
  const [type, body] = encodeBody(b, request);
  b.finish(w.Envelope.createEnvelope(b, reqId, type, body), 'QIMC');
  return b.asUint8Array();
}

function text(value: string | null): string {
  return value ?? '';
}

function message(m: w.Message): Message {
  const body = m.bodyArray();
  return {
    conversation: text(m.conversation()),
    seq: Number(m.seq()),
    sender: text(m.sender()),
    senderDevice: text(m.senderDevice()),
    clientMsgId: m.clientMsgId(),
    serverTimeMs: Number(m.serverTimeMs()),
    text: body ? fromUtf8.decode(body) : '',
  };
}

const FRIEND_STATES: FriendState[] = ['none', 'pending-out', 'pending-in', 'accepted'];
const FRIEND_EVENTS = ['requested', 'accepted', 'declined', 'removed'] as const;
const GROUP_EVENTS = ['added', 'removed', 'left', 'dissolved', 'role-changed'];

function list<T, R>(count: number, at: (i: number) => T | null, map: (item: T) => R): R[] {
  const out: R[] = [];
  for (let i = 0; i < count; i++) {
    const item = at(i);
    if (item !== null) out.push(map(item));
  }
  return out;
}

function decodeBody(env: w.Envelope): Reply {
  const type = env.bodyType();
  switch (type) {
    case w.Body.Error: {
      const e: w.Error = env.body(new w.Error());
      return { kind: 'error', code: e.code(), message: text(e.message()) };
    }
    case w.Body.HelloOk: {
      const h: w.HelloOk = env.body(new w.HelloOk());
      return {
        kind: 'hello-ok',
        node: text(h.node()),
        maxBodyBytes: h.maxBodyBytes(),
        heartbeatIntervalMs: h.heartbeatIntervalMs(),
        clusterWsNodes: Array.from({ length: h.clusterWsNodesLength() }, (_, i) => text(h.clusterWsNodes(i))),
      };
    }
    case w.Body.LoginOk: {
      const l: w.LoginOk = env.body(new w.LoginOk());
      return {
        kind: 'login-ok',
        user: text(l.user()),
        device: text(l.device()),
        token: text(l.token()),
        node: text(l.node()),
      };
    }
    case w.Body.Redirect: {
      const r: w.Redirect = env.body(new w.Redirect());
      return {
        kind: 'redirect',
        host: text(r.host()),
        port: r.port(),
        wsPort: r.wsPort(),
        node: text(r.node()),
      };
    }
    case w.Body.Ok:
      return { kind: 'ok' };
    case w.Body.Pong:
      return { kind: 'pong' };
    case w.Body.SendAck: {
      const a: w.SendAck = env.body(new w.SendAck());
      return {
        kind: 'send-ack',
        conversation: text(a.conversation()),
        seq: Number(a.seq()),
        clientMsgId: a.clientMsgId(),
      };
    }
    case w.Body.Deliver: {
      const d: w.Deliver = env.body(new w.Deliver());
      const m = d.message();
      if (m === null) return { kind: 'unknown', bodyType: type };
      return { kind: 'deliver', message: message(m) };
    }
    case w.Body.SyncResult: {
      const s: w.SyncResult = env.body(new w.SyncResult());
      return {
        kind: 'sync-result',
        conversations: list(
          s.conversationsLength(),
          (i) => s.conversations(i),
          (c) => ({
            conversation: text(c.conversation()),
            headSeq: Number(c.headSeq()),
            readSeq: Number(c.readSeq()),
            firstSeq: Number(c.firstSeq()),
            peer: text(c.peer()),
          }),
        ),
      };
    }
    case w.Body.MessageBatch: {
      const m: w.MessageBatch = env.body(new w.MessageBatch());
      return {
        kind: 'message-batch',
        conversation: text(m.conversation()),
        messages: list(m.messagesLength(), (i) => m.messages(i), message),
        more: m.more(),
      };
    }
    case w.Body.FriendListResult: {
      const f: w.FriendListResult = env.body(new w.FriendListResult());
      return {
        kind: 'friend-list-result',
        friends: list(
          f.friendsLength(),
          (i) => f.friends(i),
          (x) => ({
            user: text(x.user()),
            state: FRIEND_STATES[x.state()] ?? 'none',
            online: x.online(),
          }),
        ),
      };
    }
    case w.Body.FriendEvent: {
      const f: w.FriendEvent = env.body(new w.FriendEvent());
      return { kind: 'friend-event', user: text(f.user()), event: FRIEND_EVENTS[f.kind()] ?? 'requested' };
    }
    case w.Body.PresenceEvent: {
      const p: w.PresenceEvent = env.body(new w.PresenceEvent());
      return { kind: 'presence', user: text(p.user()), online: p.online() };
    }
    case w.Body.MyGroupsResult: {
      const g: w.MyGroupsResult = env.body(new w.MyGroupsResult());
      return {
        kind: 'my-groups-result',
        groups: list(
          g.groupsLength(),
          (i) => g.groups(i),
          (x) => ({
            group: text(x.group()),
            name: text(x.name()),
            owner: text(x.owner()),
            memberCount: x.memberCount(),
          }),
        ),
      };
    }
    case w.Body.GroupEvent: {
      const g: w.GroupEvent = env.body(new w.GroupEvent());
      return {
        kind: 'group-event',
        group: text(g.group()),
        event: GROUP_EVENTS[g.kind()] ?? 'changed',
        user: text(g.user()),
        by: text(g.by()),
      };
    }
    case w.Body.Resync: {
      const r: w.Resync = env.body(new w.Resync());
      return { kind: 'resync', reason: text(r.reason()), spreadMs: r.spreadMs() };
    }
    default:
      return { kind: 'unknown', bodyType: type };
  }
}

// Throws on bytes that are not a QIMC Envelope; the JS runtime has no verifier, so any
// out-of-range read surfaces as an exception the connection turns into a protocol error.
export function decodeEnvelope(bytes: Uint8Array): Envelope {
  const bb = new flatbuffers.ByteBuffer(bytes);
  if (bytes.length < 8 || !w.Envelope.bufferHasIdentifier(bb)) {
    throw new Error('the server sent a frame that is not a qim Envelope');
  }
  const env = w.Envelope.getRootAsEnvelope(bb);
  return { reqId: env.reqId(), reply: decodeBody(env) };
}
