r"""Table 3: NTU RGB+D single-shot cross-view, top-1 / top-5, six views, with ST-GCN and HCN.

  python -m experiments.table3 [--preset=smoke|synthetic|paper] [--output_dir=out/paper] [--dry_run]

Flags and behaviour: experiments/table_command.py.
"""

from experiments import table_command

if __name__ == '__main__':
  table_command.command('table3')
