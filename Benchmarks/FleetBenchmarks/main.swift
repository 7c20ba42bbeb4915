// Fleet (issue 13) benchmarks against a real PostgreSQL, through the real ExceptionStore API (not a timed test).
// The scripts Benchmarks/run-fleet-*.sh start a private cluster, create the roles and data, and call these:
//
//   FleetBenchmarks ingest --url-template URL --nodes N --rows N [--batch 10000]
//       N shipper threads, one per node, each its own router login role (`{n}` in URL is replaced by the node
//       index), ship `rows` synthetic block-log rows in total with ExceptionStore.shipBlockedRows (COPY, one
//       transaction per batch with the node's shipping mark), as the router's shipper does. Prints rows/s.
//   FleetBenchmarks queries --url URL --sources A,B,... [--runs 7] [--limit 100]
//       One subscriber's 30-day history (blockedAttempts, source = the address, since 30 days ago) for each
//       source, and topBlocked(by: .source, since 24 h, limit 20), each `runs` times. Prints ms per run.
//   FleetBenchmarks load-sessions --url URL --bindings N
//       N customers c-0..c-(N-1), each with one session on its own address in 100.64.0.0/10 (importSessions,
//       5,000 a transaction).
//   FleetBenchmarks churn --url URL --bindings N --rate R --seconds S [--threads T] [--samples FILE]
//       A session feed of R changes/s for S s over the N sessions of load-sessions: half renewals (start of the
//       session already held: its lease moves), half moves (the customer starts a session on a free address,
//       then stops the one it held: two changes). Each change is one transaction, as `egress25ctl session
//       start|stop`. With --samples, thread 0 writes "UTC-seconds generation" after a change about every 50 ms
//       (the change token read right after the change committed) for the propagation probe.
//   FleetBenchmarks accounting (--url URL | --sqlite PATH) [--preload N] [--batches B] [--batch E] [--run K]
//       The RADIUS accounting feed's store side (applyAccounting, one transaction per batch of E events): preloads
//       N sessions, then B batches each of Starts of new customers, Interims, and Starts that move addresses.
//       Prints events/s per phase.
//   FleetBenchmarks rebuild --bindings N [--exceptions E] [--runs R]
//       No database: the CPU of one fleet republish (replica → policy inputs → PolicySnapshot) for N bindings.

import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    print("usage: FleetBenchmarks ingest|queries|load-sessions|churn|accounting|rebuild [options]")
    exit(2)
}
let options = BenchOptions(Array(arguments.dropFirst()))
switch command {
case "ingest": runIngest(options)
case "queries": runQueries(options)
case "load-sessions": runLoadSessions(options)
case "churn": runChurn(options)
case "accounting": runAccounting(options)
case "rebuild": runRebuild(options)
default:
    print("unknown command \(command)")
    exit(2)
}
