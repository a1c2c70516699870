/**
 * Times as docker prints them: Go's time.Time String() in UTC (`2026-12-02 07:30:12 +0000 UTC`,
 * ps and images' CreatedAt) and RFC 3339 with nanoseconds (inspect, logs --timestamps).
 */
export function goTime(ms: number): string {
  return `${new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} +0000 UTC`;
}
