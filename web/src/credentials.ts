// What survives a page reload. The device id is per browser profile (it keys the server's
// read cursors, so it must stay stable); the token lives in sessionStorage: a reload resumes
// the session without the password, closing the tab forgets it. The password is never kept.

export interface SavedSession {
  user: string;
  token: string;
}

const DEVICE_KEY = 'qim.device';
const SESSION_KEY = 'qim.session';

export function deviceId(): string {
  let device = localStorage.getItem(DEVICE_KEY);
  if (!device) {
    const bytes = crypto.getRandomValues(new Uint8Array(6));
    device = 'web-' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
    localStorage.setItem(DEVICE_KEY, device);
  }
  return device;
}

export function savedSession(): SavedSession | null {
  try {
    const value = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    if (value && typeof value.user === 'string' && typeof value.token === 'string') return value;
  } catch {
    // A damaged entry is as good as none.
  }
  return null;
}

export function saveSession(session: SavedSession): void {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function forgetSession(): void {
  sessionStorage.removeItem(SESSION_KEY);
}
