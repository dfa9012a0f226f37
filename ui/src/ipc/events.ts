// Events the Rust backend pushes to the UI. Those about an account's data name the account
// (AccountEvent): the active account's reach their handler; any other account's only tell
// `otherAccount` (its unread count or state may have changed).
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { activeAccount } from './commands';
import type {
  AccountEvent,
  EngineState,
  OpenTarget,
  Presence,
  SessionInfo,
  Settings,
  Typing,
  UpdateProgress,
  UploadProgress,
} from './bindings';

export interface EventHandlers {
  engineState: (s: EngineState) => void;
  /** The cache changed (latest change id): reload what is on screen. */
  changed: (id: number) => void;
  typing: (t: Typing) => void;
  presence: (p: Presence) => void;
  /** Another account's news (the switcher's counts and states). */
  otherAccount: (account: string) => void;
  openConversation: (open: OpenTarget) => void;
  openNotifications: (account: string | null) => void;
  settings: (s: Settings) => void;
  session: (s: SessionInfo) => void;
  updateProgress: (p: UpdateProgress) => void;
  /** The active account's uploads now: clientId → bytes sent of the entry's total. */
  uploadProgress: (p: Record<string, UploadProgress>) => void;
}

export async function subscribe(h: EventHandlers): Promise<UnlistenFn> {
  /** Listens to an account's event: the active account's to `f`, others' to `otherAccount`. */
  const mine = <T>(name: string, f: (p: T) => void) =>
    listen<AccountEvent<T>>(name, (e) => {
      if (e.payload.account === activeAccount()) f(e.payload.payload);
      else h.otherAccount(e.payload.account);
    });
  const offs = await Promise.all([
    mine<EngineState>('engine-state', h.engineState),
    mine<number>('changed', h.changed),
    mine<Typing>('typing', h.typing),
    mine<Presence>('presence', h.presence),
    listen<OpenTarget>('open-conversation', (e) => h.openConversation(e.payload)),
    listen<string | null>('open-notifications', (e) => h.openNotifications(e.payload)),
    mine<Settings>('settings', h.settings),
    listen<SessionInfo>('session', (e) => h.session(e.payload)),
    listen<UpdateProgress>('update-progress', (e) => h.updateProgress(e.payload)),
    listen<AccountEvent<Record<string, UploadProgress>>>('upload-progress', (e) => {
      if (e.payload.account === activeAccount()) h.uploadProgress(e.payload.payload);
    }),
  ]);
  return () => offs.forEach((off) => off());
}
