/**
 * The edge's Prometheus metrics. Per-subscriber work is never counted one
 * call at a time on the hot path: a topic publish counts its subscribers at once.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface EdgeMetrics {
  readonly connections: Gauge<'transport'>;
  readonly subscriptions: Gauge<'transport'>;
  readonly deliveries: Counter<'transport'>;
  readonly deliveredBytes: Counter<'transport'>;
  readonly closes: Counter<'code'>;
  readonly resets: Counter<'code'>;
  readonly replays: Counter<'kind'>;
  readonly replayEvents: Counter<'kind'>;
  readonly replaySeconds: Histogram<'kind'>;
  readonly coldFetches: Counter<'outcome'>;
  readonly headWaitSeconds: Histogram<'outcome'>;
  readonly deliveryLatency: Histogram;
  readonly kafkaLag: Gauge<'partition'>;
  readonly kafkaConnected: Gauge;
  readonly partitionsRead: Gauge;
  readonly fetchSeconds: Histogram<'outcome'>;
  readonly undecodable: Counter;
  readonly httpRequests: Counter<'route' | 'status'>;
  readonly frameErrors: Counter<'code'>;
  readonly abruptCloses: Counter;
  readonly handlerErrors: Counter<'handler'>;
  readonly clusterMembers: Gauge;
  readonly clusterListedMembers: Gauge<'state'>;
  readonly placementVersion: Gauge;
  readonly partitionsOwned: Gauge;
  readonly placementChanges: Counter;
  readonly clientsMoved: Counter<'transport'>;
  readonly stateTrackers: Gauge;
  readonly stateEvictions: Counter;
  readonly stateFolds: Counter;
  readonly stateRefusals: Counter<'reason'>;
  readonly stateSnapshotBytes: Counter<'transport'>;
  readonly statePatchBytes: Counter<'transport'>;
  readonly resourceLeases: Gauge;
  readonly resourceLeaseRequests: Counter<'result'>;
  readonly resourceRenewFailures: Counter;
  readonly stateCheckpointsRead: Counter;
  readonly stateCheckpointsIgnored: Counter<'reason'>;
  readonly stateCheckpointsWritten: Counter;
  readonly stateStartRecords: Histogram<'from'>;
  readonly stateCheckpointerChannels: Gauge;
  readonly stateCheckpointerFolds: Counter;
  readonly stateCheckpointBytesWritten: Counter;
  readonly stateCheckpointerEvictions: Counter;
  readonly stateCheckpointerReloads: Counter;
}

export function createEdgeMetrics(registry: Registry): EdgeMetrics {
  const registers = [registry];
  return {
    connections: new Gauge({
      name: 'fanout_edge_connections',
      help: 'Open client connections by transport (ws, sse, poll).',
      labelNames: ['transport'],
      registers,
    }),
    subscriptions: new Gauge({
      name: 'fanout_edge_subscriptions',
      help: 'Active subscriptions by transport.',
      labelNames: ['transport'],
      registers,
    }),
    deliveries: new Counter({
      name: 'fanout_edge_deliveries_total',
      help: 'Events delivered to subscribers (one per event and subscriber), by transport.',
      labelNames: ['transport'],
      registers,
    }),
    deliveredBytes: new Counter({
      name: 'fanout_edge_delivered_bytes_total',
      help: 'Bytes of event frames delivered, by transport.',
      labelNames: ['transport'],
      registers,
    }),
    closes: new Counter({
      name: 'fanout_edge_closes_total',
      help: 'Connections closed by the edge, by error catalog code (backpressure, draining, token_expired, ...).',
      labelNames: ['code'],
      registers,
    }),
    resets: new Counter({
      name: 'fanout_edge_resets_total',
      help: 'Subscriptions answered with reset, by code (position_too_old, position_epoch_mismatch).',
      labelNames: ['code'],
      registers,
    }),
    replays: new Counter({
      name: 'fanout_edge_replays_total',
      help: 'Catch-ups from a position, by kind (hot: from memory, cold: from Kafka).',
      labelNames: ['kind'],
      registers,
    }),
    replayEvents: new Counter({
      name: 'fanout_edge_replay_events_total',
      help: 'Events delivered by catch-ups, by kind.',
      labelNames: ['kind'],
      registers,
    }),
    replaySeconds: new Histogram({
      name: 'fanout_edge_replay_seconds',
      help: 'Time from subscribe to live of a catch-up, by kind.',
      labelNames: ['kind'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    coldFetches: new Counter({
      name: 'fanout_edge_cold_fetches_total',
      help: 'Requests to Kafka of cold catch-ups (replays the memory does not hold), by outcome (ok, failed); while Kafka fails them they back off together.',
      labelNames: ['outcome'],
      registers,
    }),
    headWaitSeconds: new Histogram({
      name: 'fanout_edge_resume_head_wait_seconds',
      help: "Time a subscription resuming beyond the edge's read head waited for the head to pass its position, by outcome (caught_up, timeout: answered kafka_unavailable).",
      labelNames: ['outcome'],
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    deliveryLatency: new Histogram({
      name: 'fanout_edge_delivery_latency_seconds',
      help: 'Time from the Kafka record timestamp to live delivery by this edge.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    kafkaLag: new Gauge({
      name: 'fanout_edge_kafka_lag_events',
      help: 'High watermark minus read head, per partition read.',
      labelNames: ['partition'],
      registers,
    }),
    kafkaConnected: new Gauge({
      name: 'fanout_edge_kafka_connected',
      help: '1 when the last Kafka request succeeded.',
      registers,
    }),
    partitionsRead: new Gauge({
      name: 'fanout_edge_partitions_read',
      help: 'Partitions this edge reads.',
      registers,
    }),
    fetchSeconds: new Histogram({
      name: 'fanout_edge_kafka_fetch_seconds',
      help: 'Duration of live Kafka fetches (long polls), by outcome.',
      labelNames: ['outcome'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    undecodable: new Counter({
      name: 'fanout_edge_undecodable_records_total',
      help: 'Kafka records that are not fanout events and could not be delivered.',
      registers,
    }),
    httpRequests: new Counter({
      name: 'fanout_edge_http_requests_total',
      help: 'HTTP requests (GET, long-poll, SSE opens, refused upgrades) by route and status.',
      labelNames: ['route', 'status'],
      registers,
    }),
    frameErrors: new Counter({
      name: 'fanout_edge_frame_errors_total',
      help: 'WebSocket requests answered with an error frame, by error catalog code (rate_limited, permission_denied, frame_invalid, ...).',
      labelNames: ['code'],
      registers,
    }),
    abruptCloses: new Counter({
      name: 'fanout_edge_abrupt_closes_total',
      help: 'WebSockets that ended without a close handshake: the client vanished, was dropped at twice the backpressure limit, sent a frame over twice the size limit, or sent a text frame that is not UTF-8.',
      registers,
    }),
    handlerErrors: new Counter({
      name: 'fanout_edge_handler_errors_total',
      help: 'Exceptions thrown inside a uWebSockets.js handler or callback, by handler; each ended only its own connection or request (WebSocket close 4000 internal, HTTP 500).',
      labelNames: ['handler'],
      registers,
    }),
    clusterMembers: new Gauge({
      name: 'fanout_edge_cluster_members',
      help: 'Edges in the settled membership this edge places partitions on (1 without cluster membership).',
      registers,
    }),
    clusterListedMembers: new Gauge({
      name: 'fanout_edge_cluster_listed_members',
      help: 'Members of `static` or `file` membership by the state their readiness probes settled on: `live` (placed on) or `dead` (dropped). This edge counts by its own readiness.',
      labelNames: ['state'],
      registers,
    }),
    placementVersion: new Gauge({
      name: 'fanout_edge_placement_version',
      help: 'Version of the placement algorithm this edge runs; edges and clients must agree.',
      registers,
    }),
    partitionsOwned: new Gauge({
      name: 'fanout_edge_partitions_owned',
      help: 'Partitions this edge owns in the current placement.',
      registers,
    }),
    placementChanges: new Counter({
      name: 'fanout_edge_placement_changes_total',
      help: 'Membership changes that changed the placement.',
      registers,
    }),
    clientsMoved: new Counter({
      name: 'fanout_edge_clients_moved_total',
      help: 'Clients closed with `rebalance` because their partitions moved to other edges, by transport.',
      labelNames: ['transport'],
      registers,
    }),
    stateTrackers: new Gauge({
      name: 'fanout_edge_state_trackers',
      help: 'State channels whose document this edge folds (at most edge.state.maxChannels).',
      registers,
    }),
    stateEvictions: new Counter({
      name: 'fanout_edge_state_evictions_total',
      help: 'State trackers dropped to make room for another channel (least recently used, without readers).',
      registers,
    }),
    stateFolds: new Counter({
      name: 'fanout_edge_state_folds_total',
      help: 'State changes applied to documents by the trackers.',
      registers,
    }),
    stateRefusals: new Counter({
      name: 'fanout_edge_state_refusals_total',
      help: 'State changes the fold refused (the document left as it was), by reason (invalid-json, forbidden-key, too-deep, too-large, unknown-operation).',
      labelNames: ['reason'],
      registers,
    }),
    stateSnapshotBytes: new Counter({
      name: 'fanout_edge_state_snapshot_bytes_total',
      help: 'Bytes of state snapshots served, by transport (get, sse, ws).',
      labelNames: ['transport'],
      registers,
    }),
    statePatchBytes: new Counter({
      name: 'fanout_edge_state_patch_bytes_total',
      help: 'Bytes of state patches sent, by transport (get, sse, ws).',
      labelNames: ['transport'],
      registers,
    }),
    resourceLeases: new Gauge({
      name: 'fanout_edge_resource_leases',
      help: 'On-demand resources this edge holds a lease for (one per resource, shared by its subscribers).',
      registers,
    }),
    resourceLeaseRequests: new Counter({
      name: 'fanout_edge_resource_lease_requests_total',
      help: 'Lease requests to bridges, by result (ok, elsewhere, refused, limit, invalid, unreachable, error).',
      labelNames: ['result'],
      registers,
    }),
    resourceRenewFailures: new Counter({
      name: 'fanout_edge_resource_renew_failures_total',
      help: 'Lease renewals that failed at every bridge asked (the lease runs on until it expires; the next renewal tries again).',
      registers,
    }),
    stateCheckpointsRead: new Counter({
      name: 'fanout_edge_state_checkpoints_read_total',
      help: 'State trackers started from a checkpoint (edge.state.checkpoints).',
      registers,
    }),
    stateCheckpointsIgnored: new Counter({
      name: 'fanout_edge_state_checkpoints_ignored_total',
      help: 'Checkpoints not used (the tracker folds from the log instead), by reason (corrupt, unknown_version, epoch, ahead, too_large, invalid, behind_log_start, unreadable).',
      labelNames: ['reason'],
      registers,
    }),
    stateCheckpointsWritten: new Counter({
      name: 'fanout_edge_state_checkpoints_written_total',
      help: 'Checkpoint records written by the checkpointers of the partitions this edge owns (channel checkpoints and partition marks).',
      registers,
    }),
    stateStartRecords: new Histogram({
      name: 'fanout_edge_state_start_records',
      help: 'Partition records a state tracker read before its first answer, by where it started (checkpoint, log, given).',
      labelNames: ['from'],
      buckets: [0, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000],
      registers,
    }),
    stateCheckpointerChannels: new Gauge({
      name: 'fanout_edge_state_checkpointer_channels',
      help: 'State channels whose document the checkpointers of this edge hold.',
      registers,
    }),
    stateCheckpointerFolds: new Counter({
      name: 'fanout_edge_state_checkpointer_folds_total',
      help: 'State changes folded by the checkpointers of this edge.',
      registers,
    }),
    stateCheckpointBytesWritten: new Counter({
      name: 'fanout_edge_state_checkpoint_bytes_written_total',
      help: 'Bytes of checkpoint records (keys and values) written by the checkpointers of this edge.',
      registers,
    }),
    stateCheckpointerEvictions: new Counter({
      name: 'fanout_edge_state_checkpointer_evictions_total',
      help: 'State channels the checkpointers dropped from memory past edge.state.checkpoints.maxChannels (their checkpoint written first).',
      registers,
    }),
    stateCheckpointerReloads: new Counter({
      name: 'fanout_edge_state_checkpointer_reloads_total',
      help: 'Dropped state channels the checkpointers read back from their checkpoint on their next change.',
      registers,
    }),
  };
}
