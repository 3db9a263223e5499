// What the client knows of each conversation: the messages loaded so far (deduplicated by
// seq), how far it has them without a gap, the head and this device's read cursor. Pure
// state: the session feeds it frames and asks it what to pull; the views read it.
import type { ConversationState, Message } from './wire';

export type ConversationKind = 'direct' | 'group';

export class Conversation {
  readonly messages = new Map<number, Message>();
  // Every seq in [oldestLoaded, delivered] is in `messages` (or below firstSeq); pushes above
  // delivered + 1 wait there until the gap is pulled.
  delivered = 0;
  oldestLoaded = 0;
  headSeq = 0;
  readSeq = 0;
  firstSeq = 1;
  // No message older than oldestLoaded exists (history reached the start).
  reachedStart = false;

  constructor(
    readonly id: string,
    readonly kind: ConversationKind,
    readonly peer: string,
  ) {}

  // Nothing older than what is loaded exists.
  get atStart(): boolean {
    return this.reachedStart || (this.oldestLoaded !== 0 && this.oldestLoaded <= this.firstSeq);
  }

  get unread(): number {
    return Math.max(0, this.headSeq - this.readSeq);
  }

  get lastMessage(): Message | undefined {
    return this.messages.get(this.delivered) ?? this.messages.get(this.headSeq);
  }

  // Oldest first.
  sorted(): Message[] {
    return [...this.messages.values()].sort((a, b) => a.seq - b.seq);
  }
}

export function kindOf(id: string): ConversationKind {
  return id.startsWith('g:') ? 'group' : 'direct';
}

// The other user of "d:<a>:<b>", or the group of "g:<group>".
export function peerOf(id: string, me: string): string {
  if (id.startsWith('g:')) return id.slice(2);
  const [, a, b] = id.split(':');
  return a === me ? b : a;
}

export function directId(a: string, b: string): string {
  return a < b ? `d:${a}:${b}` : `d:${b}:${a}`;
}

export class ConversationStore {
  private readonly byId = new Map<string, Conversation>();

  constructor(readonly me: string) {}

  get(id: string): Conversation | undefined {
    return this.byId.get(id);
  }

  ensure(id: string, peer?: string): Conversation {
    let conversation = this.byId.get(id);
    if (!conversation) {
      conversation = new Conversation(id, kindOf(id), peer || peerOf(id, this.me));
      this.byId.set(id, conversation);
    }
    return conversation;
  }

  // Most recent activity first.
  list(): Conversation[] {
    const time = (c: Conversation) => c.lastMessage?.serverTimeMs ?? 0;
    return [...this.byId.values()].sort((a, b) => time(b) - time(a) || a.id.localeCompare(b.id));
  }

  applySync(states: ConversationState[]): void {
    for (const state of states) {
      const conversation = this.ensure(state.conversation, state.peer);
      conversation.headSeq = Math.max(conversation.headSeq, state.headSeq);
      conversation.readSeq = Math.max(conversation.readSeq, state.readSeq);
      conversation.firstSeq = Math.max(1, state.firstSeq);
    }
  }

  // A pushed or pulled message. Returns the seq to pull after when it revealed a gap, else null.
  // Duplicates change nothing.
  add(message: Message): number | null {
    const conversation = this.ensure(message.conversation);
    conversation.headSeq = Math.max(conversation.headSeq, message.seq);
    if (message.sender === this.me) conversation.readSeq = Math.max(conversation.readSeq, message.seq);
    if (conversation.messages.has(message.seq)) return null;
    conversation.messages.set(message.seq, message);
    if (conversation.oldestLoaded === 0 || message.seq < conversation.oldestLoaded) {
      conversation.oldestLoaded = message.seq;
    }
    if (conversation.delivered === 0) conversation.delivered = message.seq - 1;
    while (conversation.messages.has(conversation.delivered + 1)) conversation.delivered++;
    return conversation.delivered < conversation.headSeq ? conversation.delivered : null;
  }

  // A page from History (newest end of what is missing); marks the start when it was the last.
  addHistory(id: string, messages: Message[], more: boolean): void {
    const conversation = this.ensure(id);
    for (const message of messages) this.add(message);
    if (messages.length > 0 && conversation.oldestLoaded === 0) {
      conversation.oldestLoaded = messages[0].seq;
    }
    if (!more) conversation.reachedStart = true;
  }

  // Where a catch-up Pull starts: after the last seq held without a gap.
  pullFrom(id: string): number {
    return this.byId.get(id)?.delivered ?? 0;
  }

  markRead(id: string, seq: number): boolean {
    const conversation = this.byId.get(id);
    if (!conversation || seq <= conversation.readSeq) return false;
    conversation.readSeq = seq;
    return true;
  }
}
