// Drain mode: while it is on, playlist requests go back to the LB (edge/classify.ts) and the edge says so
// in `cascade_edge_draining`. Two sources turn it on: SIGTERM (for good: /healthz fails too) and the
// control plane's drain set (until `cascade undrain`).
export class DrainState {
  private shutdown = false;
  private byControlPlane = false;

  get draining(): boolean {
    return this.shutdown || this.byControlPlane;
  }

  get shuttingDown(): boolean {
    return this.shutdown;
  }

  beginShutdown(): void {
    this.shutdown = true;
  }

  /** The edge's id entered or left the drain set in Redis. */
  setDrainedByControlPlane(drained: boolean): void {
    this.byControlPlane = drained;
  }
}
