// Starting conversations: a direct chat with a user, or a new group with members.
import type { Chat } from '../chat';
import { h, input } from './dom';

export function newChatPanel(chat: Chat, open: (id: string) => void): HTMLElement {
  const user = input('new-chat-user', 'chat with: user name');
  user.setAttribute('autocapitalize', 'none');
  const direct = h(
    'form',
    {
      class: 'row',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const name = user.value.trim();
        if (!name) return;
        user.value = '';
        open(chat.openDirect(name));
      },
    },
    user,
    h('button', { id: 'new-chat-open', type: 'submit' }, 'Open'),
  );
  const group = input('group-id', 'group id (a-z 0-9 _ . -)');
  group.setAttribute('autocapitalize', 'none');
  const name = input('group-name', 'group name');
  const members = input('group-members', 'members, comma separated');
  members.setAttribute('autocapitalize', 'none');
  const groupForm = h(
    'form',
    {
      class: 'stack',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const list = members.value.split(',').map((m) => m.trim()).filter(Boolean);
        const id = await chat.createGroup(group.value.trim(), name.value.trim(), list);
        if (id) {
          group.value = name.value = members.value = '';
          open(id);
        }
      },
    },
    group,
    name,
    members,
    h('button', { id: 'group-create', type: 'submit' }, 'Create group'),
  );
  return h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'New chat'),
    direct,
    h('details', {}, h('summary', {}, 'New group'), groupForm),
  );
}
