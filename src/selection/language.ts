/**
 * Which language a request is in, against the language its tools are described in. An English
 * embedding model and an English lexical ranker rank a German request close to arbitrarily, so
 * such a request is ranked by a multilingual embedding model alone, or, with none, keeps every tool
 * (rank.ts: a weak ranking fails open).
 *
 * A message counts as foreign only when fewer than KNOWN_SHARE of its words occur in the tools' own
 * texts (an English request full of tool words, "open the garage door", stays English), and the
 * language detector is sure of it (`isReliable()`) and names another language than the tools'.
 * The word-share test comes first and is cheap: the detector is started only when a message passes
 * it, so a proxy whose requests use their tools' words never loads it, and the tools' language is
 * detected then, once per tool set.
 *
 * Detection: the `eld` library (Efficient Language Detector, n-gram model, 60 languages), its
 * "extrasmall" database: about +38 MiB RSS once loaded, against +63 MiB for "small"; on the six
 * evaluation sets it takes 2 of 910 English requests for another language (small: 3) and detects
 * 46 of the 50 foreign ones (small: 47), with the same hybrid recall. franc-min (+9 MiB) took 27
 * English requests for another language. Measured in docs/benchmarks.md, "Language detector".
 * The detector runs in a Worker (language-worker.ts) that is started on the first message past the
 * gate and exits after IDLE_MS without one: in the main thread eld held ~27 MB of live JS heap
 * (~50,000 objects, +39 MiB RSS) for the life of the process, and JSC's garbage budget grows with
 * the live heap, so RSS under load grew by as much again. Now the main heap holds none of it; the
 * Worker costs ~+48 MiB RSS while it runs and ~+9 MiB once it has exited (the runtime's first
 * Worker; later ones reuse it), its load (~70-100 ms) runs off the event loop, and the decisions are
 * eld's own, unchanged. Measured in docs/benchmarks.md, "Language detector in a Worker".
 */
import { cappedCopy, words } from "./text.ts";
import type { DetectReply, DetectRequest } from "./language-worker.ts";

/** A language guess: ISO 639-1 code ("" when none), whether the detector is sure of it, and `failed` when no detector answered. */
export interface Detection {
  language: string;
  reliable: boolean;
  failed?: true;
}

/** Idle spell after which the detector's Worker exits: a burst of foreign requests reuses one load, a quiet proxy holds nothing. */
const IDLE_MS = 30_000;
/** Longest wait for one detection, cold start included (~0.1 s on a PC, a few times that on a Raspberry Pi): past it, fail open. */
const DETECT_TIMEOUT_MS = 3_000;

/**
 * The language detector, run in a Worker started on demand and stopped after `idleMs` without a
 * request. detect() never rejects: a Worker that fails to start, crashes or does not answer within
 * `timeoutMs` gives FAILED (`failed: true`: language checks fail open).
 */
export class LanguageDetector {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (d: Detection) => void>();
  private nextId = 1;
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly idleMs: number;
  private readonly timeoutMs: number;

  constructor(options: { idleMs?: number; timeoutMs?: number } = {}) {
    this.idleMs = options.idleMs ?? IDLE_MS;
    this.timeoutMs = options.timeoutMs ?? DETECT_TIMEOUT_MS;
  }

  /** True while the detector's Worker runs (it holds the n-gram tables). */
  running(): boolean {
    return this.worker !== undefined;
  }

  /** Detects the language of `text` (eld reads its first 1,000 characters). */
  detect(text: string): Promise<Detection> {
    const worker = this.start();
    if (!worker) return Promise.resolve(FAILED);
    const id = this.nextId++;
    return new Promise<Detection>((resolve) => {
      const timer = setTimeout(() => this.settle(id, FAILED), this.timeoutMs);
      this.pending.set(id, (d) => {
        clearTimeout(timer);
        resolve(d);
      });
      worker.postMessage({ id, text } satisfies DetectRequest);
    });
  }

  /** Stops the Worker now; pending detections resolve FAILED. */
  stop(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    const worker = this.worker;
    this.worker = undefined;
    for (const id of [...this.pending.keys()]) this.settle(id, FAILED);
    worker?.terminate();
  }

  private start(): Worker | undefined {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    if (this.worker) return this.worker;
    let worker: Worker;
    try {
      // smol: the Worker's heap grows in small steps (it holds the tables and little else).
      worker = new Worker(new URL("./language-worker.ts", import.meta.url).href, { smol: true });
    } catch {
      return undefined;
    }
    worker.unref?.();
    worker.onmessage = (event: MessageEvent<DetectReply>) => {
      const { id, language, reliable } = event.data;
      this.settle(id, { language, reliable });
    };
    worker.onerror = () => {
      if (this.worker === worker) this.stop();
    };
    this.worker = worker;
    return worker;
  }

  private settle(id: number, detection: Detection): void {
    const resolve = this.pending.get(id);
    if (!resolve) return;
    this.pending.delete(id);
    resolve(detection);
    if (this.pending.size === 0 && this.worker && !this.idleTimer) {
      this.idleTimer = setTimeout(() => this.stop(), this.idleMs);
      this.idleTimer.unref?.();
    }
  }
}

const FAILED: Detection = { language: "", reliable: false, failed: true };

/** The process's detector (the selector's). */
const shared = new LanguageDetector();

/** Share of a message's words found in the tools' texts above which it is taken as the tools' language. */
const KNOWN_SHARE = 0.5;
/** Characters of tool text the tools' language is judged on: plenty for an n-gram detector. */
const TOOL_SAMPLE_CHARS = 4000;

/** What is known about the tools' language: the words their texts use, and (once detected) the language. */
export interface ToolLanguage {
  vocabulary: Set<string>;
  /** The start of the tools' texts, which their language is detected on. */
  sample: string;
  /** ISO 639-1 code, "" when not reliably detected, undefined until first needed. */
  language?: string;
}

/** @param texts the tools' names, descriptions and parameter texts */
export function toolLanguage(texts: readonly string[]): ToolLanguage {
  const vocabulary = new Set<string>();
  for (const t of texts) for (const w of words(t)) vocabulary.add(w);
  // A copy, not a slice: the sample outlives the request in the tool-set cache, the joined texts must not.
  return { vocabulary, sample: cappedCopy(texts.join(". "), TOOL_SAMPLE_CHARS) };
}

/**
 * The language of `text` when it is reliably another one than the tools' (ISO 639-1 code), else
 * undefined (mostly the tools' words, the tools' language, unsure, or the detector failed to load).
 * Starts the detector's Worker on a message that passes the word-share test (`detector`: the
 * process's own unless given, e.g. by a test).
 */
export async function foreignLanguage(text: string, tools: ToolLanguage, detector: LanguageDetector = shared): Promise<string | undefined> {
  if (!text.trim()) return undefined;
  const letters = words(text).filter((w) => /^[a-z]{2,}$/.test(w));
  // Words of other scripts are split away by words(); a message with none of the tools' letters is foreign.
  if (letters.length > 0 && letters.filter((w) => tools.vocabulary.has(w)).length / letters.length >= KNOWN_SHARE) return undefined;
  if (tools.language === undefined) {
    const own = await detector.detect(tools.sample);
    // No answer (the Worker failed or was slow): ask again next time rather than remember "no language".
    if (own.failed) return undefined;
    tools.language = own.reliable ? own.language : "";
  }
  if (!tools.language) return undefined;
  const result = await detector.detect(text);
  if (!result.reliable || !result.language || result.language === tools.language) return undefined;
  return result.language;
}
