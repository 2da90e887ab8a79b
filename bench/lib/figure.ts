/** One line of the bench's table and one object of bench/results.json. */
export interface Figure {
  /** Stable name, e.g. `warm ack p99`. */
  readonly name: string;
  readonly ours: number;
  /** What `ours` is compared with; null where the figure has a target but no baseline. */
  readonly baseline: number | null;
  /** ours / baseline. */
  readonly ratio: number | null;
  readonly unit: string;
  /** Repeated runs the figure is the median of (1: deterministic). */
  readonly runs: number;
  /** The target, in words (`ratio ≤ 1.1`). */
  readonly target?: string;
  readonly met?: boolean;
  /** What was compared with what, in a few words. */
  readonly versus?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export function figure(f: Omit<Figure, 'ratio'> & { ratio?: number | null }): Figure {
  const ratio = f.ratio !== undefined ? f.ratio : f.baseline === null || f.baseline === 0 ? null : f.ours / f.baseline;
  return { ...f, ratio };
}

/** Rounds for display and for results.json (3 significant decimals are plenty for a ms figure). */
export function round(value: number, digits = 3): number {
  return Number(value.toFixed(digits));
}
