r"""Table 5: Penn Action single-shot ablation (fusion; without L_inter; without L_prior).

  python -m experiments.table5 [--preset=smoke|synthetic|paper] [--output_dir=out/paper] [--dry_run]

Flags and behaviour: experiments/table_command.py.
"""

from experiments import table_command

if __name__ == '__main__':
  table_command.command('table5')
