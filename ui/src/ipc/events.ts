// Events the Rust backend pushes to the UI.
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { EngineState, Presence, SessionInfo, Settings, Typing, UpdateProgress } from './bindings';

export interface EventHandlers {
  engineState: (s: EngineState) => void;
  /** The cache changed (latest change id): reload what is on screen. */
  changed: (id: number) => void;
  typing: (t: Typing) => void;
  presence: (p: Presence) => void;
  openConversation: (cid: string) => void;
  openNotifications: () => void;
  settings: (s: Settings) => void;
  session: (s: SessionInfo) => void;
  updateProgress: (p: UpdateProgress) => void;
}

export async function subscribe(h: EventHandlers): Promise<UnlistenFn> {
  const offs = await Promise.all([
    listen<EngineState>('engine-state', (e) => h.engineState(e.payload)),
    listen<number>('changed', (e) => h.changed(e.payload)),
    listen<Typing>('typing', (e) => h.typing(e.payload)),
    listen<Presence>('presence', (e) => h.presence(e.payload)),
    listen<string>('open-conversation', (e) => h.openConversation(e.payload)),
    listen<null>('open-notifications', () => h.openNotifications()),
    listen<Settings>('settings', (e) => h.settings(e.payload)),
    listen<SessionInfo>('session', (e) => h.session(e.payload)),
    listen<UpdateProgress>('update-progress', (e) => h.updateProgress(e.payload)),
  ]);
  return () => offs.forEach((off) => off());
}
