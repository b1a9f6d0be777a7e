"""Results: what a run left behind, read back and summarised, with no VM.

parse reads the page_owner and procfs dumps; metrics and compare put result
sets side by side; report renders a results directory as HTML, junit_summary
and triage summarise JUnit XML and console logs; crash is the table of kernel
crash reports that triage, the report and the live console all scan with.
"""
