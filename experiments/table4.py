r"""Table 4: NTU RGB+D cross-subject and cross-view top-1, with ST-GCN and HCN.

  python -m experiments.table4 [--preset=smoke|synthetic|paper] [--output_dir=out/paper] [--dry_run]

Flags and behaviour: experiments/table_command.py.
"""

from experiments import table_command

if __name__ == '__main__':
  table_command.command('table4')
