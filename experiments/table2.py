r"""Table 2: Penn Action fully supervised top-1 of the pose-based rows.

  python -m experiments.table2 [--preset=smoke|synthetic|paper] [--output_dir=out/paper] [--dry_run]

Flags and behaviour: experiments/table_command.py.
"""

from experiments import table_command

if __name__ == '__main__':
  table_command.command('table2')
