// What the status page and /metrics show. Structurally a subset of the agent's AgentStatus
// (firmware/agent/status.ts), so `() => agent.status()` is accepted as is; a few optional extras
// (board, telemetry) let the service add what the agent does not know.
export interface StatusSnapshot {
  readonly nodeId: string;
  readonly state?: string;
  readonly uptimeMs: number;
  readonly updatedAt?: number;
  readonly activation: { readonly state: string; readonly reason?: string };
  readonly tpm: { readonly manufacturer: string; readonly vendor: string; readonly firmwareVersion: string } | null;
  readonly broker: { readonly connected: boolean; readonly state: string };
  readonly chain?: { readonly height: number; readonly finalizedHeight?: number };
  readonly seals: { readonly made: number; readonly published: number; readonly reused?: number; readonly notDelivered?: number };
  /** Candidates not sealed, by reason. */
  readonly rejected?: Readonly<Record<string, number>>;
  readonly lastErrors: readonly { readonly at: number; readonly code: string; readonly message: string }[];
  readonly board?: string;
  /** The system user the agent runs as (btn-node under the unit): root would be a packaging fault. */
  readonly user?: string;
  /** What the board's status LED shows now and means (firmware/led PATTERN_MEANING), on boards with one. */
  readonly statusLight?: string;
  /** Faults now (full or read-only disk, journal down, TPM missing); the page shows their text. */
  readonly faults?: readonly { readonly key: string; readonly code: string; readonly message: string; readonly since?: number }[];
}

/** Activation states exported as a gauge, one series each (Prometheus enum idiom). */
export const ACTIVATION_STATES = ['active', 'not-activated', 'revoked'] as const;
