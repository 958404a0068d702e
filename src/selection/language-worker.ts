/**
 * Worker entrypoint: the language detector (`eld`, "extrasmall" database) off the main thread, so
 * its n-gram tables (~27 MB of JS heap in ~50,000 objects) live in a heap that is dropped when the
 * Worker exits (language.ts stops it after an idle spell), and its ~70 ms load never blocks the
 * proxy's event loop.
 *
 * Protocol (structured-clone messages):
 *   in  {id, text}  -> out {id, language: ISO 639-1 code or "", reliable: eld's isReliable()}
 */
import { eld } from "eld/extrasmall";

declare const self: Worker;

/** A detection request and its answer. */
export interface DetectRequest {
  id: number;
  text: string;
}
export interface DetectReply {
  id: number;
  language: string;
  reliable: boolean;
}

self.onmessage = (event: MessageEvent<DetectRequest>) => {
  const { id, text } = event.data;
  const result = eld.detect(text);
  self.postMessage({ id, language: result.language, reliable: result.isReliable() } satisfies DetectReply);
};
