import { describe, expect, it } from 'vitest';
import { accountBadge, accountForKey, accountLabel, hostOf } from './accounts';

const key = (k: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; altKey: boolean; shiftKey: boolean }> = {}) => ({
  key: k,
  ctrlKey: false,
  metaKey: false,
  altKey: false,
  shiftKey: false,
  ...mods,
});

describe('accounts', () => {
  it('names an account by its user and its server host', () => {
    expect(hostOf('https://chat.example.com/')).toBe('chat.example.com');
    expect(hostOf('http://127.0.0.1:8080')).toBe('127.0.0.1:8080');
    expect(accountLabel({ id: 'alice@chat.example.com', server: 'https://chat.example.com', user: 'alice', kind: null })).toBe(
      'alice on chat.example.com',
    );
  });

  it('Ctrl+1…9 picks the n-th account, and nothing else does', () => {
    const ids = ['a@work', 'b@community'];
    expect(accountForKey(key('1', { ctrlKey: true }), ids)).toBe('a@work');
    expect(accountForKey(key('2', { metaKey: true }), ids)).toBe('b@community');
    expect(accountForKey(key('3', { ctrlKey: true }), ids)).toBeNull();
    expect(accountForKey(key('2'), ids)).toBeNull();
    expect(accountForKey(key('2', { ctrlKey: true, shiftKey: true }), ids)).toBeNull();
    expect(accountForKey(key('2', { ctrlKey: true, altKey: true }), ids)).toBeNull();
    expect(accountForKey(key('0', { ctrlKey: true }), ids)).toBeNull();
    expect(accountForKey(key('k', { ctrlKey: true }), ids)).toBeNull();
  });

  it('badges the unread count', () => {
    expect(accountBadge(0)).toBe('');
    expect(accountBadge(7)).toBe('7');
    expect(accountBadge(120)).toBe('99+');
  });
});
