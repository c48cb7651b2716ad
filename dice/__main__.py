import resource
import sys

from dice.cli import main

status = main()
if status == 0 and not sys.stderr.isatty():  # a job's cost, for its log (benchmarks/jobs.py)
    from dice.train import peak_memory_mib

    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(f"resources: cpu_s={usage.ru_utime + usage.ru_stime:.1f} "
          f"peak_rss_mib={peak_memory_mib():.0f}", file=sys.stderr)  # fmt: skip
raise SystemExit(status)
