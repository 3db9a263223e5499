// Friends: send a request, answer incoming ones, see who is online, open a direct chat.
import type { Chat } from '../chat';
import { h, input, replaceChildren } from './dom';

const STATE_TEXT = { none: '', 'pending-out': 'request sent', 'pending-in': 'wants to be friends', accepted: '' };

export class FriendsPanel {
  readonly element: HTMLElement;
  private readonly list = h('ul', { id: 'friends' });

  constructor(private readonly chat: Chat, private readonly open: (id: string) => void) {
    const user = input('friend-user', 'add a friend: user name');
    user.setAttribute('autocapitalize', 'none');
    const form = h(
      'form',
      {
        class: 'row',
        onsubmit: async (event: Event) => {
          event.preventDefault();
          const name = user.value.trim();
          if (name && (await this.chat.friendRequest(name))) user.value = '';
        },
      },
      user,
      h('button', { id: 'friend-add', type: 'submit' }, 'Add'),
    );
    this.element = h('section', { class: 'panel' }, h('h2', {}, 'Friends'), form, this.list);
  }

  render(): void {
    const friends = [...this.chat.friends.values()].sort(
      (a, b) => Number(b.state === 'pending-in') - Number(a.state === 'pending-in') || a.user.localeCompare(b.user),
    );
    replaceChildren(
      this.list,
      friends.map((friend) =>
        h(
          'li',
          { class: 'friend', 'data-user': friend.user, 'data-state': friend.state },
          h('span', { class: `presence${friend.online ? ' online' : ''}` }),
          h(
            'button',
            {
              class: 'link',
              disabled: friend.state !== 'accepted',
              onclick: () => this.open(this.chat.openDirect(friend.user)),
            },
            friend.user,
          ),
          h('small', {}, friend.state === 'accepted' ? (friend.online ? 'online' : 'offline') : STATE_TEXT[friend.state]),
          friend.state === 'pending-in' &&
            h('button', { class: 'accept', onclick: () => this.chat.friendAnswer(friend.user, true) }, 'Accept'),
          friend.state === 'pending-in' &&
            h(
              'button',
              { class: 'decline secondary', onclick: () => this.chat.friendAnswer(friend.user, false) },
              'Decline',
            ),
        ),
      ),
    );
  }
}
