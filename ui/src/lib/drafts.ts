// Drafts as the composer keeps them: what is typed in each conversation (and what it replies
// to), shown at once in the list and written to the cache a moment after the user stops
// typing, one timer per conversation, so switching away never carries text into another
// conversation and never loses what was typed. Sending forgets the draft (the backend clears
// its copy in the same command) and cancels a save still waiting, so a sent text never
// comes back as a draft.

export type DraftValue = { text: string; replyTo: string | null };

export type Saver = (conversation: string, text: string, replyTo: string | null) => Promise<unknown>;

type Timers = {
  set: (f: () => void, ms: number) => unknown;
  clear: (t: unknown) => void;
};

const realTimers: Timers = {
  set: (f, ms) => setTimeout(f, ms),
  clear: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
};

/** Whether a value is no draft at all (nothing typed, nothing replied to). */
export const isEmpty = (d: DraftValue | undefined) => !d || (!d.text.trim() && d.replyTo === null);

export class DraftKeeper {
  /** conversation → its draft, as the list shows it (a reactive object in the app). */
  readonly shown: Record<string, DraftValue>;
  private waiting = new Map<string, { timer: unknown; value: DraftValue }>();

  constructor(
    private save: Saver,
    shown: Record<string, DraftValue> = {},
    private delayMs = 400,
    private timers: Timers = realTimers,
    private onError: (e: unknown) => void = () => {},
  ) {
    this.shown = shown;
  }

  /** Takes the drafts read from the cache (at start), keeping what was typed since. */
  load(list: { conversationId: string; text: string; replyTo: string | null }[]) {
    for (const d of list) {
      if (!this.waiting.has(d.conversationId)) this.shown[d.conversationId] = { text: d.text, replyTo: d.replyTo };
    }
  }

  get(conversation: string): DraftValue | undefined {
    return this.shown[conversation];
  }

  /** The composer of `conversation` now holds this: shown at once, saved after a pause. */
  change(conversation: string, text: string, replyTo: string | null) {
    const value = { text, replyTo };
    const before = this.shown[conversation];
    if (before ? before.text === text && before.replyTo === replyTo : isEmpty(value)) return;
    if (isEmpty(value)) delete this.shown[conversation];
    else this.shown[conversation] = value;
    const w = this.waiting.get(conversation);
    if (w) this.timers.clear(w.timer);
    const timer = this.timers.set(() => this.flush(conversation), this.delayMs);
    this.waiting.set(conversation, { timer, value });
  }

  /** Saves at once what waits for `conversation` (or for every one): on switching away, on hiding. */
  flush(conversation?: string) {
    const keys = conversation === undefined ? [...this.waiting.keys()] : [conversation];
    for (const k of keys) {
      const w = this.waiting.get(k);
      if (!w) continue;
      this.timers.clear(w.timer);
      this.waiting.delete(k);
      this.save(k, w.value.text, w.value.replyTo).catch(this.onError);
    }
  }

  /** The draft of `conversation` was sent: forget it, and drop a save still waiting. */
  sent(conversation: string) {
    const w = this.waiting.get(conversation);
    if (w) this.timers.clear(w.timer);
    this.waiting.delete(conversation);
    delete this.shown[conversation];
  }
}
