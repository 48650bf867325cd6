"""Writes BUILD from the tree: one target per module, its deps the internal import graph.

  python -m tests.regenerate_build      # rewrite BUILD
  python -m tests.regenerate_build --check   # exit 1 if BUILD differs

`tests/test_build.py` checks the same rules; this writes what it checks.
"""

import sys

from tests import test_build


def render() -> str:
  files = test_build._python_files()  # pylint: disable=protected-access
  module_to_target = {test_build._module(path): test_build._module(path) for path in files}  # pylint: disable=protected-access
  blocks = []
  for path in files:
    name = test_build._module(path)  # pylint: disable=protected-access
    deps = sorted(':' + module_to_target[m] for m in test_build._internal_imports(path)  # pylint: disable=protected-access
                  if m in module_to_target and module_to_target[m] != name)
    lines = [f'{test_build._expected_rule(path)}(', f'    name = "{name}",',  # pylint: disable=protected-access
             f'    srcs = ["{path}"],']
    if deps:
      lines.append('    deps = [' + ', '.join(f'"{d}"' for d in deps) + '],')
    blocks.append('\n'.join(lines + [')']))
  return '\n\n'.join(blocks) + '\n'


def main(argv):
  path = test_build.BUILD_PATH
  text = render()
  if '--check' in argv:
    with open(path) as f:
      return 0 if f.read() == text else 1
  with open(path, 'w') as f:
    f.write(text)
  return 0


if __name__ == '__main__':
  sys.exit(main(sys.argv[1:]))
