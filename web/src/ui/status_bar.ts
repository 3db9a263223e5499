// The header: who is signed in, the connection's state, and the error lines (Error frames and
// failed requests), newest first, each dismissable.
import type { LinkState } from '../link';
import { h, replaceChildren } from './dom';

const MAX_LINES = 5;

export class StatusBar {
  readonly element: HTMLElement;
  private readonly status = h('span', { id: 'status', role: 'status' });
  private readonly errors = h('ul', { id: 'errors', 'aria-live': 'polite' });
  private readonly lines: string[] = [];

  constructor(user: string, onSignOut: () => void) {
    this.element = h(
      'header',
      { class: 'status-bar' },
      h('strong', { id: 'me' }, user),
      this.status,
      h('button', { id: 'sign-out', class: 'secondary', onclick: onSignOut }, 'Sign out'),
      this.errors,
    );
  }

  setState(state: LinkState): void {
    this.status.dataset.state = state.kind;
    this.status.textContent = describe(state);
  }

  error(line: string): void {
    this.lines.unshift(line);
    this.lines.length = Math.min(this.lines.length, MAX_LINES);
    this.renderErrors();
  }

  private renderErrors(): void {
    replaceChildren(
      this.errors,
      this.lines.map((line, index) =>
        h(
          'li',
          { class: 'error-line' },
          line,
          h('button', {
            class: 'dismiss',
            'aria-label': 'dismiss',
            onclick: () => {
              this.lines.splice(index, 1);
              this.renderErrors();
            },
          }, '×'),
        ),
      ),
    );
  }
}

function describe(state: LinkState): string {
  switch (state.kind) {
    case 'signed-out':
      return 'signed out';
    case 'connecting':
      return 'connecting…';
    case 'online':
      return `online on ${state.node}`;
    case 'reconnecting':
      return state.inMs > 0
        ? `${state.why} — reconnecting (attempt ${state.attempt}, in ${Math.ceil(state.inMs / 1000)} s)`
        : `${state.why} — reconnecting`;
  }
}
