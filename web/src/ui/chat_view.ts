// One open conversation: its messages oldest first (scrolling up loads older pages), the
// messages still being sent, and the composer.
import type { Chat } from '../chat';
import { h, replaceChildren } from './dom';
import { clock, title } from './format';

const NEAR_EDGE_PX = 40;

export class ChatView {
  readonly element: HTMLElement;
  private readonly heading = h('h2', { id: 'chat-title' });
  private readonly presence = h('small', { id: 'chat-presence' });
  private readonly older = h('button', { id: 'load-older', class: 'secondary' }, 'Load older messages');
  private readonly messages = h('ol', { id: 'messages' });
  private readonly composer = h('textarea', {
    id: 'composer-input',
    rows: 1,
    placeholder: 'Message',
    'aria-label': 'message',
  }) as HTMLTextAreaElement;
  private conversation: string | null = null;
  private shownKey = '';
  private loading = false;

  constructor(private readonly chat: Chat, back: () => void) {
    this.older.addEventListener('click', () => void this.loadOlder());
    this.messages.addEventListener('scroll', () => {
      if (this.messages.scrollTop < NEAR_EDGE_PX) void this.loadOlder();
    });
    this.composer.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    this.element = h(
      'section',
      { id: 'chat', class: 'chat' },
      h(
        'div',
        { class: 'chat-head' },
        h('button', { id: 'back', class: 'secondary', 'aria-label': 'back', onclick: back }, '‹'),
        this.heading,
        this.presence,
      ),
      this.messages,
      h(
        'form',
        { class: 'composer', onsubmit: (e: Event) => (e.preventDefault(), this.submit()) },
        this.composer,
        h('button', { id: 'composer-send', type: 'submit' }, 'Send'),
      ),
    );
  }

  show(id: string | null): void {
    if (id === this.conversation) return;
    this.conversation = id;
    this.shownKey = '';
    this.element.dataset.conv = id ?? '';
    this.render();
    this.messages.scrollTop = this.messages.scrollHeight;
    if (id) this.composer.focus();
  }

  render(): void {
    const conversation = this.conversation ? this.chat.conversations.get(this.conversation) : undefined;
    this.element.hidden = !conversation;
    if (!conversation) return;
    this.heading.textContent = title(conversation, this.chat.groups);
    const friend = conversation.kind === 'direct' ? this.chat.friends.get(conversation.peer) : undefined;
    this.presence.textContent =
      conversation.kind === 'group'
        ? `${this.chat.groups.get(conversation.peer)?.memberCount ?? ''} members`
        : friend?.state === 'accepted' ? (friend.online ? 'online' : 'offline') : '';
    const sorted = conversation.sorted();
    const pending = this.chat.outbox.filter((o) => o.conversation === conversation.id);
    const key = `${sorted.length}:${sorted[0]?.seq}:${sorted[sorted.length - 1]?.seq}:${pending.length}:${conversation.atStart}`;
    if (key !== this.shownKey) {
      this.shownKey = key;
      const fromBottom = this.messages.scrollHeight - this.messages.scrollTop;
      const atBottom = fromBottom - this.messages.clientHeight < NEAR_EDGE_PX;
      const items = sorted.map((m) =>
        h(
          'li',
          { class: `message${m.sender === this.chat.me ? ' mine' : ''}`, 'data-seq': m.seq, 'data-sender': m.sender },
          h('span', { class: 'sender' }, m.sender),
          h('span', { class: 'text' }, m.text),
          h('time', {}, clock(m.serverTimeMs)),
        ),
      );
      const sending = pending.map((o) =>
        h('li', { class: 'message mine pending' }, h('span', { class: 'text' }, o.text), h('time', {}, 'sending…')),
      );
      replaceChildren(this.messages, [
        conversation.atStart ? h('li', { class: 'start' }, 'start of the conversation') : this.older,
        ...items,
        ...sending,
      ]);
      // Keep the reader where they were: at the bottom for new messages, in place when older
      // ones were added above.
      this.messages.scrollTop = atBottom
        ? this.messages.scrollHeight
        : this.messages.scrollHeight - fromBottom;
    }
    if (document.visibilityState === 'visible') this.chat.markRead(conversation.id);
  }

  private async loadOlder(): Promise<void> {
    if (!this.conversation || this.loading) return;
    this.loading = true;
    try {
      await this.chat.loadOlder(this.conversation);
    } finally {
      this.loading = false;
    }
  }

  private submit(): void {
    const text = this.composer.value;
    if (!this.conversation || text.trim() === '') return;
    this.composer.value = '';
    void this.chat.send(this.conversation, text);
  }
}
