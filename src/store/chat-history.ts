/**
 * Chat history of augmented models (`log.chat_history: true`): one JSONL file per model and
 * conversation, `<data_dir>/chats/<model>/<conversation>.jsonl`, one event per line (request, each
 * round's reply, each proxy tool call with arguments, result and ms, the final answer).
 *
 * Appends are queued per file and written in order off the request path; a failure is reported
 * once on stderr and never reaches a request.
 */
import { appendFile, mkdir } from "node:fs/promises";
import { join } from "node:path";

/** A file-name-safe spelling of `name` (other characters become `_`, at most 120, well under the usual 255-byte name limit). */
function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "_").slice(0, 120) || "_";
}

export class ChatHistory {
  private readonly queues = new Map<string, Promise<void>>();
  private warned = false;

  /** @param dir the chats directory (`<data_dir>/chats`) */
  constructor(readonly dir: string) {}

  /** The file of one conversation. */
  fileOf(model: string, conversation: string): string {
    return join(this.dir, safe(model), `${safe(conversation)}.jsonl`);
  }

  /** Queues `event` (with a `ts` in ms added) for the conversation's file. Never throws. */
  write(model: string, conversation: string, event: Record<string, unknown>): void {
    const file = this.fileOf(model, conversation);
    const line = `${JSON.stringify({ ts: Date.now(), ...event })}\n`;
    const previous = this.queues.get(file) ?? Promise.resolve();
    const next = previous
      .then(async () => {
        await mkdir(join(file, ".."), { recursive: true });
        await appendFile(file, line);
      })
      .catch((err: Error) => {
        if (this.warned) return;
        this.warned = true;
        console.error(`llm-proxy: chat history write failed (${err.message}); requests are not affected`);
      });
    this.queues.set(file, next);
    void next.then(() => {
      if (this.queues.get(file) === next) this.queues.delete(file);
    });
  }

  /** Resolves when every queued event is written (for tests and shutdown). */
  async flush(): Promise<void> {
    await Promise.all(this.queues.values());
  }
}
