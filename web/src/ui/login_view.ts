// The sign-in screen: one form for signing in and creating an account.
import { h, input } from './dom';

export interface LoginHandlers {
  signIn: (user: string, password: string, register: boolean) => Promise<void>;
}

export function loginView(handlers: LoginHandlers, notice: string): HTMLElement {
  const user = input('login-user', 'user name');
  user.setAttribute('autocapitalize', 'none');
  const password = input('login-password', 'password', 'password');
  const error = h('p', { id: 'login-error', class: 'error-line', role: 'alert' }, notice);
  const buttons: HTMLButtonElement[] = [];
  const submit = (register: boolean) => async (event: Event) => {
    event.preventDefault();
    error.textContent = '';
    buttons.forEach((b) => (b.disabled = true));
    try {
      await handlers.signIn(user.value.trim(), password.value, register);
    } catch (failure) {
      error.textContent = (failure as Error).message;
    } finally {
      buttons.forEach((b) => (b.disabled = false));
    }
  };
  const signIn = h('button', { id: 'login-submit', type: 'submit' }, 'Sign in') as HTMLButtonElement;
  const register = h(
    'button',
    { id: 'register-submit', type: 'button', class: 'secondary', onclick: submit(true) },
    'Create account',
  ) as HTMLButtonElement;
  buttons.push(signIn, register);
  return h(
    'main',
    { id: 'login', class: 'login' },
    h(
      'form',
      { onsubmit: submit(false) },
      h('h1', {}, 'qim'),
      user,
      password,
      h('div', { class: 'row' }, signIn, register),
      error,
    ),
  );
}
