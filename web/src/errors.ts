// Error frames as sentences: the code's name (switched on) and the server's message (read).
const NAMES = [
  'none', 'malformed', 'frame too large', 'unsupported version', 'hello required',
  'unexpected message', 'invalid argument', 'not signed in', 'already signed in',
  'wrong user, password or token', 'account disabled', 'rate limited', 'not found',
  'already exists', 'forbidden', 'not friends', 'not a member', 'limit exceeded',
  'unavailable', 'internal error', 'idle timeout', 'slow consumer', 'signed out by an administrator',
  'server shutting down', 'too many connections', 'wrong node',
];

export const ErrorCode = {
  AuthFailed: 9,
  AccountDisabled: 10,
  RateLimited: 11,
  Unavailable: 18,
  Kicked: 22,
} as const;

// An Error frame the server answered a request with.
export class ServerError extends Error {
  constructor(readonly code: number, readonly serverMessage: string) {
    super(`${errorName(code)}: ${serverMessage}`);
  }
}

export function errorName(code: number): string {
  // README "Versioning": unknown codes are treated as Internal.
  return NAMES[code] ?? NAMES[19];
}
