"""BUILD stays in step with the tree: a target per module, deps equal to the import graph."""

import ast
import os
import subprocess
import sys
import textwrap

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PACKAGES = ('poem_cvmim', 'data_prep', 'experiments', 'tests')
_RULES = ('py_library', 'py_binary', 'py_test')
BUILD_PATH = os.path.join(_ROOT, 'BUILD')


def _targets():
  """{name: (rule, srcs, deps)} from BUILD (Starlark is a subset of Python syntax)."""
  with open(BUILD_PATH) as f:
    tree = ast.parse(f.read(), 'BUILD')
  targets = {}
  for node in tree.body:
    call = node.value
    assert isinstance(call, ast.Call) and call.func.id in _RULES, ast.dump(node)
    kwargs = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
    assert kwargs['name'] not in targets, f'duplicate target {kwargs["name"]}'
    targets[kwargs['name']] = (call.func.id, kwargs['srcs'], kwargs.get('deps', []))
  return targets


def _python_files():
  files = []
  for package in _PACKAGES:
    for directory, _, names in os.walk(os.path.join(_ROOT, package)):
      files += [os.path.relpath(os.path.join(directory, n), _ROOT) for n in names
                if n.endswith('.py') and n != '__init__.py']
  return sorted(files)


def _module(path):
  return path[:-3].replace('/', '.')


def _internal_imports(path):
  with open(os.path.join(_ROOT, path)) as f:
    tree = ast.parse(f.read(), path)
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      found.update(f'{node.module}.{alias.name}' for alias in node.names)
      found.add(node.module)
  return {name for name in found if name.split('.')[0] in _PACKAGES}


def _expected_rule(path):
  with open(os.path.join(_ROOT, path)) as f:
    text = f.read()
  if os.path.basename(path).startswith('test_'):
    return 'py_test'
  return 'py_binary' if "if __name__ == '__main__':" in text else 'py_library'


def test_every_python_file_has_exactly_one_target():
  covered = [src for _, srcs, _ in _targets().values() for src in srcs]
  assert sorted(covered) == sorted(set(covered)), 'a file is in two targets'
  missing = sorted(set(_python_files()) - set(covered))
  stale = sorted(set(covered) - set(_python_files()))
  assert not missing, f'Python files not covered by BUILD: {missing}'
  assert not stale, f'BUILD names files that do not exist: {stale}'


def test_rules_and_deps_follow_the_code():
  targets = _targets()
  module_to_target = {_module(src): name for name, (_, srcs, _) in targets.items()
                      for src in srcs}
  for name, (rule, srcs, deps) in targets.items():
    for src in srcs:
      assert rule == _expected_rule(src), f'{name}: {src} should be a {_expected_rule(src)}'
    wanted = set()
    for src in srcs:
      wanted.update(':' + module_to_target[m] for m in _internal_imports(src)
                    if m in module_to_target and module_to_target[m] != name)
    assert sorted(deps) == sorted(wanted), f'{name}: deps {sorted(deps)} != {sorted(wanted)}'


def test_lower_layers_never_import_higher_ones():
  for path in _python_files():
    if path.startswith('poem_cvmim/'):
      bad = {m for m in _internal_imports(path) if m.split('.')[0] != 'poem_cvmim'}
      assert not bad, f'{path} imports {bad}'
    if path.startswith('data_prep/'):
      bad = {m for m in _internal_imports(path) if m.split('.')[0] in ('experiments', 'tests')}
      assert not bad, f'{path} imports {bad}'


_SUBPACKAGES = ('core', 'representation', 'action', 'evaluation', 'temporal')


def _layer(module):
  """'core', 'representation', ... for library modules; 'command' for poem_cvmim.<command>."""
  parts = module.split('.')
  if parts[0] != 'poem_cvmim':
    return parts[0]
  return parts[1] if len(parts) > 1 and parts[1] in _SUBPACKAGES else 'command'


def _library_imports():
  for path in _python_files():
    module = _module(path)
    yield path, _layer(module), {_layer(m) for m in _internal_imports(path)
                                 if m.startswith('poem_cvmim.') and m != 'poem_cvmim'}


def test_layering_rules():
  allowed = {'core': {'core'}, 'representation': {'core', 'representation'},
             'temporal': {'core', 'temporal'},
             'action': {'core', 'action', 'temporal'},
             'evaluation': {'core', 'representation', 'action', 'evaluation', 'temporal'}}
  for path, layer, imported in _library_imports():
    if path.startswith('data_prep/'):
      assert imported <= {'core'}, f'{path} imports {imported - {"core"}} (only core allowed)'
    elif layer in allowed:
      assert imported <= allowed[layer], f'{path} ({layer}) imports {imported - allowed[layer]}'
    if layer != 'command' and not path.startswith(('tests/', 'experiments/')):
      assert 'command' not in imported, f'{path} imports a command module'


def test_no_library_module_defines_flags():
  for path in _python_files():
    if path.startswith('poem_cvmim/') and _layer(_module(path)) in _SUBPACKAGES:
      with open(os.path.join(_ROOT, path)) as f:
        text = f.read()
      assert 'flags.DEFINE' not in text, path
      # Only the command runner (core/cli.py) touches absl flags: it parses them for commands.
      assert 'absl import flags' not in text or path == 'poem_cvmim/core/cli.py', path


def test_every_command_module_imports_together_and_the_package_sets_no_environment():
  code = textwrap.dedent('''
      import importlib, os, pkgutil
      before = dict(os.environ)
      import poem_cvmim
      assert dict(os.environ) == before, 'importing poem_cvmim changed the environment'
      import data_prep, experiments
      names = [m.name for p in (poem_cvmim, data_prep, experiments)
               for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]
      for name in names:
        importlib.import_module(name)
      print('IMPORTED', len(names))
  ''')
  result = subprocess.run([sys.executable, '-c', code], cwd=_ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'IMPORTED' in result.stdout


# Floors inside subpackages: a module on the left never imports one on the right (networks and
# losses are what methods are made of; a method never reaches the trainer that drives it).
_FLOORS = (
    ('poem_cvmim.representation.networks', ('poem_cvmim.representation.algorithms',
                                            'poem_cvmim.representation.trainer',
                                            'poem_cvmim.representation.pipeline')),
    ('poem_cvmim.representation.losses', ('poem_cvmim.representation.algorithms',
                                          'poem_cvmim.representation.trainer')),
    ('poem_cvmim.representation.kernels', ('poem_cvmim.representation.networks',
                                           'poem_cvmim.representation.losses',
                                           'poem_cvmim.representation.algorithms',
                                           'poem_cvmim.representation.trainer')),
    ('poem_cvmim.representation.mining', ('poem_cvmim.representation.algorithms',
                                          'poem_cvmim.representation.trainer',
                                          'poem_cvmim.representation.networks')),
    ('poem_cvmim.representation.algorithms', ('poem_cvmim.representation.trainer',
                                              'poem_cvmim.representation.restore',
                                              'poem_cvmim.representation.export')),
    ('poem_cvmim.action.classifiers', ('poem_cvmim.action.classify',
                                       'poem_cvmim.action.protocols')),
    ('poem_cvmim.action.skeleton_classifiers', ('poem_cvmim.action.classify',
                                                'poem_cvmim.action.protocols')),
    ('poem_cvmim.temporal.tdmi', ('poem_cvmim.temporal.refiner',
                                  'poem_cvmim.temporal.evaluation')),
)
# Configuration modules: commands read them to define their flags, so they load no TensorFlow.
_TENSORFLOW_FREE = ('poem_cvmim.representation.configs', 'poem_cvmim.action.classifier_configs',
                    'poem_cvmim.temporal.configs', 'poem_cvmim.core.protocol_names',
                    'experiments.paper_tables')


def test_floors_inside_subpackages():
  for path in _python_files():
    module = _module(path)
    for lower, higher in _FLOORS:
      if module == lower or module.startswith(lower + '.'):
        bad = {m for m in _internal_imports(path) if m.startswith(higher)}
        assert not bad, f'{path} imports {sorted(bad)}, a floor above it'


def test_configuration_modules_load_no_tensorflow():
  code = textwrap.dedent(f'''
      import importlib, sys
      for name in {_TENSORFLOW_FREE!r}:
        importlib.import_module(name)
      print('LOADED' if 'tensorflow' in sys.modules else 'FREE')
  ''')
  result = subprocess.run([sys.executable, '-c', code], cwd=_ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert result.stdout.strip() == 'FREE', 'a configuration module imports TensorFlow'
