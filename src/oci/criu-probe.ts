import { execFile } from 'node:child_process';

export type CriuState = { usable: true } | { usable: false; reason: string };

let probed: Promise<CriuState> | undefined;

/**
 * Whether CRIU can checkpoint on this host: `criu check` asks the kernel for every feature
 * it needs. Asked once per daemon; the kernel does not change under it.
 */
export function probeCriu(): Promise<CriuState> {
  probed ??= new Promise((resolve) => {
    execFile('criu', ['check'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (!err) {
        resolve({ usable: true });
        return;
      }
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      const lines = `${stderr}${stdout}`.trim().split('\n').filter(Boolean);
      // The first error says what the kernel lacks; the rest is criu giving up because of it.
      const first = lines.find((l) => l.startsWith('Error')) ?? lines[0] ?? err.message;
      resolve({ usable: false, reason: missing ? 'criu is not installed' : `criu check: ${first.replace(/^Error \([^)]*\): /, '')}` });
    });
  });
  return probed;
}
