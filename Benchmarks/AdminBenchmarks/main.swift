// egress25-admin (issue 14) benchmarks, driven by Benchmarks/run-admin-bench.sh (not a timed test):
//
//   AdminBenchmarks load --url URL | --urls FILE [--rate 500] [--seconds 20] [--warmup 0] [--connections 16]
//                        [--header 'Name: value']... [--cookie 'name=value'] [--timeout 10]
//       An open-loop load generator: request i is due at start + i / rate, whatever happened to the earlier
//       ones, and its latency runs from that due time to the last byte of the response (so a stall of the server,
//       or requests queued behind busy connections, counts in full: no coordinated omission). --urls cycles
//       through a file of URLs, one a line. --warmup sends that many seconds at the same rate first and keeps
//       none of it. Prints the count, errors (non-2xx and failures), the achieved rate, p50/p90/p99/p99.9/max.
//   AdminBenchmarks seed --store PATH [--customers 100000] [--with-exceptions 20000]
//       A router's SQLite exception store through the ExceptionStore API (as egress25ctl writes it): customers
//       c-0..c-(N-1), each named and with a static /32 binding (customer i holds 100.64.0.0 + 20 i + 1), and every
//       (N / with-exceptions)-th customer an active exception to one mail server, every fourth of those a second
//       one to a /24. One transaction per change, as egress25ctl.
//   AdminBenchmarks urls --kind check|customer-page|customer-api --base URL [--customers 100000]
//                        [--with-exceptions 20000] [--count 10000] [--seed 1]
//       The URL file for `load --urls`: random customers of `seed`; for check, half of the exception holders'
//       requests go to their exception's mail server (accept), the rest to other servers (block).
//   AdminBenchmarks churn --store PATH [--rate 20] [--seconds 25] [--sessions 1000]
//       A session feed from another process: starts `sessions` sessions (one import), then renews them round robin
//       at `rate` a second (`startSession` of the session held: the lease moves and so does the change token, as
//       with `egress25ctl session renew`), one transaction each.

import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard let command = arguments.first else {
    print("usage: AdminBenchmarks load|seed|urls|churn [options]")
    exit(2)
}
let options = BenchOptions(Array(arguments.dropFirst()))
switch command {
case "load": await runLoad(options)
case "seed": runSeed(options)
case "urls": runURLs(options)
case "churn": runChurn(options)
default:
    print("unknown command \(command)")
    exit(2)
}
