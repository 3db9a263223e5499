// The conversation list: title, presence of a direct peer, last message and unread count,
// most recent first.
import type { Chat } from '../chat';
import { h, replaceChildren } from './dom';
import { clock, preview, title } from './format';

export function renderConversationList(
  list: HTMLElement,
  chat: Chat,
  selected: string | null,
  open: (id: string) => void,
): void {
  replaceChildren(
    list,
    chat.conversations.list().map((conversation) => {
      const last = conversation.lastMessage;
      const online = conversation.kind === 'direct' && chat.friends.get(conversation.peer)?.online;
      const unread = conversation.unread;
      return h(
        'li',
        {
          class: `conversation${conversation.id === selected ? ' selected' : ''}`,
          'data-conv': conversation.id,
          'data-unread': unread,
          onclick: () => open(conversation.id),
        },
        h('span', {
          class: `presence${online ? ' online' : ''}${conversation.kind === 'group' ? ' none' : ''}`,
          title: online ? 'online' : '',
        }),
        h(
          'div',
          { class: 'summary' },
          h('div', { class: 'title' }, title(conversation, chat.groups)),
          h('div', { class: 'last' }, last ? `${last.sender}: ${preview(last.text)}` : ''),
        ),
        h(
          'div',
          { class: 'meta' },
          h('time', {}, last ? clock(last.serverTimeMs) : ''),
          unread > 0 && h('span', { class: 'unread', 'aria-label': `${unread} unread` }, String(unread)),
        ),
      );
    }),
  );
}
