// What the app-wide shortcuts do (which key is which action is in shortcuts.ts): moving
// between conversations, opening the switcher, search, settings and the shortcut sheet,
// the text size, Ctrl+1…9 switching accounts, and Escape closing what is open and going
// back to the composer.

import { tick } from 'svelte';
import { commands } from '../ipc/commands';
import { app, openConversation, saveSettings, showPanel } from './store.svelte';
import { focusComposer, ui } from './actions.svelte';
import { announce } from './announce.svelte';
import { actionFor, step, stepUnread, zoomStep, type Action } from './shortcuts';
import { accountForKey } from './accounts';
import { switchAccount } from './switch.svelte';

export const keys = $state({ sheetOpen: false });

/** The window's keydown handler: runs the shortcut's action and keeps the key from the page. */
export function onWindowKey(e: KeyboardEvent) {
  const account = accountForKey(e, app.accounts.map((a) => a.info.id));
  if (account !== null) {
    e.preventDefault();
    void switchAccount(account);
    return;
  }
  const action = actionFor(e);
  if (!action || !allowed(action)) return;
  e.preventDefault();
  void run(action);
}

/** Signed out only the text size and the sheet work (the rest needs conversations). */
function allowed(a: Action): boolean {
  return !!app.session || a.startsWith('zoom') || a === 'shortcuts' || a === 'close';
}

async function run(a: Action) {
  switch (a) {
    case 'prev-conversation':
    case 'next-conversation': {
      const id = step(app.conversations.map((c) => c.id), app.panel === 'chat' ? app.selected : null, a === 'next-conversation' ? 1 : -1);
      if (id) await open(id);
      return;
    }
    case 'prev-unread':
    case 'next-unread': {
      const list = app.conversations.map((c) => ({ id: c.id, unread: c.left ? 0 : c.unreadCount }));
      const id = stepUnread(list, app.selected, a === 'next-unread' ? 1 : -1);
      if (id) await open(id);
      else announce('No other conversation has unread messages');
      return;
    }
    case 'switcher':
      app.switcherOpen = true;
      return;
    case 'new-conversation':
      app.switcherOpen = false;
      ui.newConversation = true;
      return;
    case 'search':
      await showPanel('search');
      await focusIn('[data-testid="search-input"]');
      return;
    case 'settings':
      await showPanel('settings');
      await focusIn('#settings-title');
      return;
    case 'shortcuts':
      keys.sheetOpen = !keys.sheetOpen;
      return;
    case 'zoom-in':
    case 'zoom-out':
    case 'zoom-reset':
      await zoom(a);
      return;
    case 'close':
      await close();
  }
}

async function open(id: string) {
  await openConversation(id);
  focusComposer();
}

async function focusIn(selector: string) {
  await tick();
  document.querySelector<HTMLElement>(selector)?.focus();
}

/** Escape: closes the innermost thing open (dialogs and menus close themselves first), then the composer has focus. */
async function close() {
  if (ui.reactingTo) ui.reactingTo = null;
  else if (ui.groupSettings) ui.groupSettings = false;
  else if (app.panel !== 'chat') await showPanel('chat');
  focusComposer();
}

async function zoom(a: 'zoom-in' | 'zoom-out' | 'zoom-reset') {
  const s = app.settings ?? (await commands.getSettings());
  const to = a === 'zoom-reset' ? 100 : zoomStep(s.zoomPercent, a === 'zoom-in' ? 1 : -1);
  if (to === s.zoomPercent && app.settings) return;
  await saveSettings({ ...s, zoomPercent: to });
  announce(`Text size ${to} %`);
}
