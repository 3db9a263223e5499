// The chat state of a signed-in user and the requests that keep it current: sync and catch-up
// pulls after every login (README "Resync"), pushes deduplicated by (conversation, seq) with
// gaps pulled at once, history pages, friends, groups and presence, and sends that survive a
// reconnect (retried with the same client_msg_id, which the server deduplicates).
import { ConversationStore, directId, kindOf } from './conversations';
import { errorName, ServerError } from './errors';
import type { Link } from './link';
import type { Friend, GroupInfo, Message, Reply } from './wire';

export const PAGE = 50;

export interface Outgoing {
  conversation: string;
  clientMsgId: bigint;
  text: string;
}

export class Chat {
  readonly conversations: ConversationStore;
  readonly friends = new Map<string, Friend>();
  readonly groups = new Map<string, GroupInfo>();
  readonly outbox: Outgoing[] = [];
  private syncing: Promise<void> | null = null;

  constructor(
    readonly me: string,
    private readonly link: Link,
    private readonly changed: () => void,
    private readonly report: (line: string) => void,
  ) {
    this.conversations = new ConversationStore(me);
  }

  // After every login: what happened meanwhile, then the sends still waiting.
  async onSignedIn(): Promise<void> {
    await Promise.all([this.sync(), this.refreshFriends(), this.refreshGroups()]);
    for (const outgoing of [...this.outbox]) void this.transmit(outgoing);
  }

  onPush(push: Reply): void {
    switch (push.kind) {
      case 'deliver':
        this.receive([push.message]);
        break;
      case 'friend-event':
        void this.refreshFriends();
        break;
      case 'presence': {
        const friend = this.friends.get(push.user);
        if (friend) friend.online = push.online;
        this.changed();
        break;
      }
      case 'group-event':
        void this.refreshGroups().then(() => this.sync());
        break;
      case 'resync':
        window.setTimeout(() => void this.sync(), Math.random() * push.spreadMs);
        break;
      case 'error':
        this.report(`${errorName(push.code)}: ${push.message}`);
        break;
      default:
        break;
    }
  }

  sync(): Promise<void> {
    // One at a time; a sync asked for meanwhile is covered by the running one's pulls.
    if (!this.syncing) {
      this.syncing = this.runSync().finally(() => {
        this.syncing = null;
      });
    }
    return this.syncing;
  }

  async send(conversation: string, text: string): Promise<void> {
    const outgoing = { conversation, clientMsgId: newClientMsgId(), text };
    this.outbox.push(outgoing);
    this.changed();
    await this.transmit(outgoing);
  }

  // One more page of older messages; false when the conversation's start is loaded.
  async loadOlder(id: string): Promise<boolean> {
    const conversation = this.conversations.get(id);
    if (!conversation || conversation.atStart) return false;
    const before = conversation.oldestLoaded;
    const reply = await this.request({ kind: 'history', conversation: id, beforeSeq: before, limit: PAGE });
    if (reply?.kind === 'message-batch') {
      this.conversations.addHistory(id, reply.messages, reply.more);
      this.changed();
    }
    return !conversation.atStart;
  }

  // The conversation is on screen: move this device's read cursor to its newest message.
  markRead(id: string): void {
    const conversation = this.conversations.get(id);
    if (!conversation) return;
    const seq = conversation.headSeq;
    if (this.conversations.markRead(id, seq)) {
      this.link.post({ kind: 'ack', conversation: id, seq });
      this.changed();
    }
  }

  openDirect(user: string): string {
    const id = directId(this.me, user);
    this.conversations.ensure(id, user);
    this.changed();
    return id;
  }

  async friendRequest(user: string): Promise<boolean> {
    const ok = (await this.request({ kind: 'friend-request', user })) !== null;
    await this.refreshFriends();
    return ok;
  }

  async friendAnswer(user: string, accept: boolean): Promise<void> {
    await this.request({ kind: accept ? 'friend-accept' : 'friend-decline', user });
    await this.refreshFriends();
  }

  async createGroup(group: string, name: string, members: string[]): Promise<string | null> {
    const reply = await this.request({ kind: 'group-create', group, name, members });
    if (reply === null) return null;
    await this.refreshGroups();
    const id = `g:${group}`;
    this.conversations.ensure(id, group);
    this.changed();
    return id;
  }

  // The request's reply, or null after reporting why it failed.
  private async request(request: Parameters<Link['call']>[0]): Promise<Reply | null> {
    try {
      return await this.link.call(request);
    } catch (error) {
      this.report(`${request.kind}: ${(error as Error).message}`);
      return null;
    }
  }

  private async runSync(): Promise<void> {
    const reply = await this.request({ kind: 'sync' });
    if (reply?.kind !== 'sync-result') return;
    this.conversations.applySync(reply.conversations);
    this.changed();
    await Promise.all(
      reply.conversations.map(async (state) => {
        const conversation = this.conversations.get(state.conversation);
        if (!conversation) return;
        if (conversation.messages.size === 0) {
          // Nothing loaded yet (a fresh page): the newest page, then older ones on scroll.
          if (conversation.headSeq >= conversation.firstSeq) await this.loadOlder(state.conversation);
        } else {
          await this.catchUp(state.conversation);
        }
      }),
    );
  }

  private receive(messages: Message[]): void {
    const gaps = new Set<string>();
    for (const message of messages) {
      const known = this.conversations.get(message.conversation) !== undefined;
      if (this.conversations.add(message) !== null) gaps.add(message.conversation);
      // A conversation first heard of by a push may have older messages (a new group).
      if (!known && message.seq > 1) void this.loadOlder(message.conversation);
    }
    this.changed();
    for (const id of gaps) void this.catchUp(id);
  }

  // Pulls everything after the last seq held without a gap, page by page.
  private async catchUp(id: string): Promise<void> {
    for (;;) {
      const after = this.conversations.pullFrom(id);
      const reply = await this.request({ kind: 'pull', conversation: id, afterSeq: after, limit: PAGE });
      if (reply?.kind !== 'message-batch') return;
      for (const message of reply.messages) this.conversations.add(message);
      this.changed();
      if (!reply.more || reply.messages.length === 0) return;
    }
  }

  private async transmit(outgoing: Outgoing): Promise<void> {
    const target = kindOf(outgoing.conversation) === 'group'
      ? { toGroup: outgoing.conversation.slice(2) }
      : { toUser: this.conversations.ensure(outgoing.conversation).peer };
    let reply: Reply;
    try {
      reply = await this.link.call({ kind: 'send', clientMsgId: outgoing.clientMsgId, text: outgoing.text, ...target });
    } catch (error) {
      if (error instanceof ServerError) {
        // Refused for good (not friends, too long, ...): it leaves the outbox with the reason.
        this.dropOutgoing(outgoing);
        this.report(`message not sent: ${error.message}`);
      }
      // Otherwise the connection went; it is sent again after the next login.
      return;
    }
    if (reply.kind !== 'send-ack') return;
    this.dropOutgoing(outgoing);
    this.conversations.add({
      conversation: reply.conversation,
      seq: reply.seq,
      sender: this.me,
      senderDevice: '',
      clientMsgId: outgoing.clientMsgId,
      serverTimeMs: Date.now(),
      text: outgoing.text,
    });
    this.link.post({ kind: 'ack', conversation: reply.conversation, seq: reply.seq });
    this.changed();
    if (this.conversations.pullFrom(reply.conversation) < reply.seq - 1) void this.catchUp(reply.conversation);
  }

  private dropOutgoing(outgoing: Outgoing): void {
    const index = this.outbox.indexOf(outgoing);
    if (index >= 0) this.outbox.splice(index, 1);
    this.changed();
  }

  private async refreshFriends(): Promise<void> {
    const reply = await this.request({ kind: 'friend-list' });
    if (reply?.kind !== 'friend-list-result') return;
    this.friends.clear();
    for (const friend of reply.friends) this.friends.set(friend.user, friend);
    this.changed();
  }

  private async refreshGroups(): Promise<void> {
    const reply = await this.request({ kind: 'my-groups' });
    if (reply?.kind !== 'my-groups-result') return;
    this.groups.clear();
    for (const group of reply.groups) this.groups.set(group.group, group);
    this.changed();
  }
}

// Non-zero, unique per sender and conversation: 53 random bits.
function newClientMsgId(): bigint {
  const words = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(words[0] & 0x1fffff) << 32n) | BigInt(words[1]) | 1n;
}
