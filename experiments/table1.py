r"""Table 1: Penn Action single-shot cross-view top-1 (Res-TCN ... CV-MIM; Left, Right, Front, Back, Average).

  python -m experiments.table1 [--preset=smoke|synthetic|paper] [--output_dir=out/paper] [--dry_run]

Flags and behaviour: experiments/table_command.py.
"""

from experiments import table_command

if __name__ == '__main__':
  table_command.command('table1')
