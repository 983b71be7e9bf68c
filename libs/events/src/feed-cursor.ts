import { InvalidCursorError } from '#store';

/**
 * A position in the global event feed: the id of the last entry consumed in each partition
 * ("0-0" = nothing consumed yet). Index = partition number.
 */
export type FeedPosition = string[];

const STREAM_ID = /^(\d{1,20})-(\d{1,20})$/;
const MULTI_PREFIX = 'm.';

export function beginningOf(partitions: number): FeedPosition {
  return Array.from({ length: partitions }, () => '0-0');
}

/**
 * Encodes a position as an opaque cursor. With one partition it is simply the stream id
 * (`1712345678901-0`), readable in logs and usable with redis-cli; with several it is
 * `m.` + base64url of the ids joined by commas.
 */
export function encodeFeedCursor(position: FeedPosition): string {
  if (position.length === 1) return position[0]!;
  return MULTI_PREFIX + Buffer.from(position.join(',')).toString('base64url');
}

/**
 * Decodes a cursor for a feed of `partitions` partitions. A bare stream id is accepted for any
 * partition count and applies to every partition: stream ids are times, so it means "after this
 * moment" everywhere (that is also how a single-partition cursor survives a move to more
 * partitions). A multi-partition cursor must match the partition count.
 */
export function decodeFeedCursor(cursor: string, partitions: number): FeedPosition {
  const single = normalizeStreamId(cursor);
  if (single) return Array.from({ length: partitions }, () => single);
  if (!cursor.startsWith(MULTI_PREFIX)) throw new InvalidCursorError();
  const ids = Buffer.from(cursor.slice(MULTI_PREFIX.length), 'base64url').toString('utf8').split(',');
  if (ids.length !== partitions) throw new InvalidCursorError();
  return ids.map((id) => {
    const normalized = normalizeStreamId(id);
    if (!normalized) throw new InvalidCursorError();
    return normalized;
  });
}

function normalizeStreamId(id: string): string | undefined {
  if (id === '0') return '0-0';
  return STREAM_ID.test(id) ? id : undefined;
}

/** Orders two stream ids ("<ms>-<seq>") as Redis does. */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  const ms = BigInt(am) - BigInt(bm);
  if (ms !== 0n) return ms < 0n ? -1 : 1;
  const seq = BigInt(as) - BigInt(bs);
  return seq === 0n ? 0 : seq < 0n ? -1 : 1;
}

/** The position after consuming an entry: only that entry's partition moves. */
export function advance(position: FeedPosition, partition: number, id: string): FeedPosition {
  const next = position.slice();
  next[partition] = id;
  return next;
}
