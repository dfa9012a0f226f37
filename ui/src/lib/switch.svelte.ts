// Moving between accounts: switching the window to another one, adding one (the sign-in form
// over the others, which stay signed in), and signing the active one out. Imports the store;
// the store does not import this module.
import { commands, useAccount } from '../ipc/commands';
import { app, afterSignIn, openConversation, refreshAccounts, showError } from './store.svelte';
import { flushPlace, forgetPlaces, loadDrafts } from './place.svelte';
import { ui, loadMe } from './actions.svelte';

/** What the window showed of the account it leaves. */
function clearScreen() {
  app.selected = null;
  app.conversations = [];
  app.messages = [];
  app.pending = [];
  app.quoted = [];
  app.notifications = [];
  app.typing = {};
  app.searchHits = [];
  app.searchQuery = '';
  app.unreadFrom = null;
  app.scrollTarget = null;
  app.panel = 'chat';
  ui.me = null;
}

/** Shows another signed-in account: its list, and the conversation it had open. */
export async function switchAccount(id: string) {
  // A notification's click may name an account the switcher has not loaded yet.
  if (!app.accounts.some((a) => a.info.id === id)) await refreshAccounts();
  const info = app.accounts.find((a) => a.info.id === id)?.info;
  if (!info) return;
  app.adding = false;
  if (app.session?.id === id) return;
  // What waits to be written belongs to the account being left: written now, with its name.
  flushPlace();
  forgetPlaces();
  try {
    await commands.setActiveAccount(id);
  } catch (e) {
    showError(e);
    return;
  }
  useAccount(id);
  clearScreen();
  app.session = info;
  await afterSignIn();
  await loadDrafts();
  loadMe();
  const open = await commands.lastOpen().catch(() => null);
  if (open && app.session?.id === id && app.conversations.some((c) => c.id === open)) await openConversation(open);
}

/** After the sign-in form: the new account becomes the one shown. */
export async function signedIn(id: string) {
  await refreshAccounts();
  if (!app.session) {
    // The first account: nothing to switch from.
    const info = app.accounts.find((a) => a.info.id === id)?.info ?? null;
    useAccount(id);
    app.session = info;
    await commands.setActiveAccount(id).catch(() => {});
    await afterSignIn();
    return;
  }
  if (app.session.id === id) {
    // Signed in again to the account shown: its new session.
    app.adding = false;
    await afterSignIn();
    return;
  }
  await switchAccount(id);
}

/** Signs the active account out; the window goes on with the next one, or the sign-in form. */
export async function signOutActive() {
  try {
    flushPlace();
    await commands.signOut();
  } catch (e) {
    showError(e);
    return;
  }
  forgetPlaces();
  clearScreen();
  const s = await commands.session();
  await refreshAccounts();
  const next = s.session;
  if (!next) {
    useAccount(null);
    app.session = null;
    return;
  }
  app.session = null;
  useAccount(next.id);
  app.session = next;
  await afterSignIn();
  loadMe();
}
