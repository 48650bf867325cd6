r"""Figure 3: top-1 against the fraction of supervised training clips (Penn, NTU), CV-MIM
against the raw-keypoint Temporal ConvNet; a PNG and its CSV.

  python -m experiments.figure3 [--preset=smoke|synthetic|paper] [--output_dir=out/paper] [--dry_run]

Flags and behaviour: experiments/table_command.py.
"""

from experiments import table_command

if __name__ == '__main__':
  table_command.command('figure3')
