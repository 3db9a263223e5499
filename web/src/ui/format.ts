// How things read on screen; pure functions of the state.
import type { Conversation } from '../conversations';
import type { GroupInfo } from '../wire';

export function title(conversation: Conversation, groups: Map<string, GroupInfo>): string {
  if (conversation.kind === 'direct') return conversation.peer;
  const group = groups.get(conversation.peer);
  return group && group.name ? `# ${group.name}` : `# ${conversation.peer}`;
}

export function clock(ms: number): string {
  if (ms <= 0) return '';
  const date = new Date(ms);
  const now = new Date();
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay
    ? date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleDateString([], { month: 'short', day: 'numeric' });
}

// One line of a message for the conversation list.
export function preview(text: string, max = 60): string {
  const line = text.replace(/\s+/g, ' ').trim();
  const chars = [...line]; // by code point, so an emoji is never cut in half
  return chars.length > max ? chars.slice(0, max - 1).join('') + '…' : line;
}
