/** Reading an Ollama `/api/chat` stream as the `ollama` client yields it. For tests only. */
import type { ChatResponse } from "ollama";

export interface ReadChat {
  /** `message.content` of every part, joined. */
  content: string;
  /** `message.thinking` of every part, joined. */
  thinking: string;
  /** Every part, in order. */
  parts: ChatResponse[];
  /** `done_reason` of each part with `done: true` (a well-formed stream has exactly one). */
  doneReasons: string[];
}

/** Drains `stream` (from `ollama.chat({ stream: true })`) and returns what it carried. */
export async function readChat(stream: AsyncIterable<ChatResponse>): Promise<ReadChat> {
  const read: ReadChat = { content: "", thinking: "", parts: [], doneReasons: [] };
  for await (const part of stream) {
    read.parts.push(part);
    read.content += part.message.content;
    read.thinking += part.message.thinking ?? "";
    if (part.done) read.doneReasons.push(part.done_reason);
  }
  return read;
}
