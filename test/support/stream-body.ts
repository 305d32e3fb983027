/**
 * A client that streams a large request body (chunked, or with a declared Content-Length) from one
 * reused buffer, so a test can offer gigabytes without holding them, and stops as soon as the
 * server answers. Plus the resident memory of a process (Linux /proc), to show what a server held
 * meanwhile.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';

export interface StreamOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Bytes offered in all (the server is expected to refuse long before). */
  totalBytes: number;
  /** Declare the length (Content-Length) instead of streaming chunked. */
  declareLength?: boolean;
  chunkBytes?: number;
  /** The byte the body is made of (default `x`). */
  fill?: number;
  timeoutMs?: number;
}

export interface StreamOutcome {
  /** The answer's status; undefined when the connection ended without one. */
  status?: number;
  body: string;
  /** Bytes handed to the socket before the answer came (an upper bound of what the server read). */
  sentBytes: number;
  /** The socket error that ended the exchange, if any (after or instead of an answer). */
  error?: string;
}

export function streamBody(url: string, options: StreamOptions): Promise<StreamOutcome> {
  const chunk = Buffer.alloc(options.chunkBytes ?? 64 * 1024, options.fill ?? 0x78);
  const headers: Record<string, string> = { ...options.headers };
  if (options.declareLength) headers['content-length'] = String(options.totalBytes);
  else headers['transfer-encoding'] = 'chunked';
  return new Promise((resolve) => {
    let sentBytes = 0;
    let answered = false;
    let settled = false;
    let status: number | undefined;
    let body = '';
    const finish = (error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ status, body, sentBytes, ...(error ? { error } : {}) });
    };
    const req = request(url, { method: options.method ?? 'POST', headers, agent: false }, (res) => {
      answered = true;
      status = res.statusCode;
      res.setEncoding('utf8');
      res.on('data', (text: string) => {
        if (body.length < 64 * 1024) body += text;
      });
      res.on('end', () => finish());
      res.on('error', (err) => finish(err.message));
    });
    req.on('error', (err) => {
      // The server may close while this side is still sending: an answer already read counts.
      if (!answered) finish(err.message);
      else if (status !== undefined) setTimeout(() => finish(err.message), 200);
    });
    const timer = setTimeout(() => finish(`no answer within ${options.timeoutMs ?? 60_000} ms`), options.timeoutMs ?? 60_000);
    const pump = (): void => {
      while (!answered && !settled && sentBytes < options.totalBytes) {
        const size = Math.min(chunk.length, options.totalBytes - sentBytes);
        sentBytes += size;
        if (!req.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered && !settled) req.end();
    };
    req.flushHeaders();
    pump();
  });
}

/** Resident memory of a process in bytes (Linux), undefined where /proc is missing. */
export function residentBytes(pid: number): number | undefined {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Samples a process's resident memory every `everyMs` until stopped; the peak seen. */
export function watchResidentMemory(pid: number, everyMs = 50): { stop(): number } {
  let peak = residentBytes(pid) ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, residentBytes(pid) ?? 0);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, residentBytes(pid) ?? 0);
    },
  };
}
