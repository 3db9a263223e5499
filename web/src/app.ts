// Wires the link, the chat state and the views: the sign-in screen until a session exists,
// then the sidebar (conversations, new chat, friends) and the open conversation. On a phone
// only one of the two is shown at a time.
import { Chat } from './chat';
import { deviceId, forgetSession, saveSession, savedSession } from './credentials';
import { originUrl } from './endpoints';
import { Link, LinkState } from './link';
import { ChatView } from './ui/chat_view';
import { renderConversationList } from './ui/conversation_list';
import { h } from './ui/dom';
import { FriendsPanel } from './ui/friends_panel';
import { loginView } from './ui/login_view';
import { newChatPanel } from './ui/new_chat_panel';
import { StatusBar } from './ui/status_bar';

interface Screen {
  chat: Chat;
  status: StatusBar;
  list: HTMLElement;
  friends: FriendsPanel;
  view: ChatView;
  layout: HTMLElement;
  selected: string | null;
}

export class App {
  private readonly link: Link;
  private screen: Screen | null = null;
  private renderQueued = false;
  private lastState: LinkState = { kind: 'signed-out' };

  constructor(private readonly root: HTMLElement) {
    this.link = new Link(location.protocol, originUrl(location), deviceId(), {
      onState: (state) => {
        this.lastState = state;
        this.screen?.status.setState(state);
      },
      onPush: (push) => this.screen?.chat.onPush(push),
      onSignedIn: (user, token) => {
        saveSession({ user, token });
        if (!this.screen || this.screen.chat.me !== user) this.showMain(user);
        void this.screen!.chat.onSignedIn();
      },
      onSignedOut: (why) => {
        forgetSession();
        this.showLogin(why);
      },
    });
    document.addEventListener('visibilitychange', () => this.queueRender());
  }

  start(): void {
    const saved = savedSession();
    if (saved) {
      this.showMain(saved.user);
      this.link.resume(saved.user, saved.token);
    } else {
      this.showLogin('');
    }
  }

  private showLogin(notice: string): void {
    this.screen = null;
    this.root.replaceChildren(
      loginView({ signIn: (user, password, register) => this.link.signIn(user, password, register) }, notice),
    );
    (this.root.querySelector('#login-user') as HTMLInputElement | null)?.focus();
  }

  private showMain(user: string): void {
    const chat = new Chat(user, this.link, () => this.queueRender(), (line) => this.screen?.status.error(line));
    const open = (id: string) => this.open(id);
    const status = new StatusBar(user, () => {
      forgetSession();
      void this.link.signOut().then(() => this.showLogin(''));
    });
    const list = h('ul', { id: 'conversations' });
    const friends = new FriendsPanel(chat, open);
    const view = new ChatView(chat, () => this.open(null));
    const sidebar = h(
      'nav',
      { class: 'sidebar' },
      h('section', { class: 'panel' }, h('h2', {}, 'Conversations'), list),
      newChatPanel(chat, open),
      friends.element,
    );
    const layout = h('div', { id: 'main', class: 'layout' }, sidebar, view.element);
    this.screen = { chat, status, list, friends, view, layout, selected: null };
    status.setState(this.lastState);
    this.root.replaceChildren(status.element, layout);
    this.render();
  }

  private open(id: string | null): void {
    if (!this.screen) return;
    this.screen.selected = id;
    this.screen.layout.classList.toggle('chat-open', id !== null);
    this.screen.view.show(id);
    this.render();
  }

  private queueRender(): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    window.setTimeout(() => {
      this.renderQueued = false;
      this.render();
    }, 0);
  }

  private render(): void {
    const screen = this.screen;
    if (!screen) return;
    renderConversationList(screen.list, screen.chat, screen.selected, (id) => this.open(id));
    screen.friends.render();
    screen.view.render();
  }
}
