"""No hidden state in library modules: no module global is rebound or mutated at run time.

A library module's globals are constants, functions and classes; what changes while a program
runs (caches, pools, loaded tables, random generators) lives in objects that the caller creates
and passes. The check reads the source: a `global` statement, an assignment to an item or
attribute of a module-level name, a mutating method called on a module-level name, an
assignment to another module's attribute, or a memoising decorator, inside any function of a
library module, is listed. The only exceptions are the memoised pure functions below, whose
cache cannot change a result.
"""

import ast
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBRARY = ('poem_cvmim', 'data_prep', 'experiments')
_MUTATORS = frozenset(('append', 'extend', 'insert', 'remove', 'pop', 'popitem', 'clear',
                       'update', 'setdefault', 'add', 'discard', 'appendleft', 'sort',
                       'reverse'))
_MEMOISERS = frozenset(('lru_cache', 'cache', 'cached_property'))
# Memoised pure functions: the same arguments always give the same value, so the cache is
# invisible except in time.
MEMOISED = {
    'poem_cvmim/core/records.py:_profile_keys':
        'the feature keys of a named keypoint profile (constant per name)',
    'poem_cvmim/core/example_wire.py:_float_entry_prefix':
        'the wire bytes before a float list of a key and length (constant per pair)',
}


def _library_files():
  for package in LIBRARY:
    yield from sorted(glob.glob(os.path.join(ROOT, package, '**', '*.py'), recursive=True))


def _module_names(tree):
  """Names bound at module level, and the aliases of imported modules."""
  names, modules = set(), set()
  for node in tree.body:
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
      targets = node.targets if isinstance(node, ast.Assign) else [node.target]
      for target in targets:
        names.update(n.id for n in ast.walk(target) if isinstance(n, ast.Name))
    elif isinstance(node, ast.Import):
      modules.update((a.asname or a.name).split('.')[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom):
      modules.update(a.asname or a.name for a in node.names)
  return names, modules


def _decorator_name(decorator):
  target = decorator.func if isinstance(decorator, ast.Call) else decorator
  return target.attr if isinstance(target, ast.Attribute) else getattr(target, 'id', None)


def run_time_state(path: str, source: str) -> list:
  """What in `source` rebinds or mutates module-level state when its functions run."""
  tree = ast.parse(source)
  names, modules = _module_names(tree)
  where = os.path.relpath(path, ROOT)
  found = []
  for function in ast.walk(tree):
    if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
      continue
    if any(_decorator_name(d) in _MEMOISERS for d in function.decorator_list):
      if f'{where}:{function.name}' not in MEMOISED:
        found.append(f'{where}:{function.lineno} {function.name} is memoised')
    local = {a.arg for a in function.args.args + function.args.kwonlyargs}
    for node in ast.walk(function):
      if isinstance(node, ast.Global):
        found.append(f'{where}:{node.lineno} {function.name} rebinds global {node.names}')
      targets = []
      if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
      elif isinstance(node, ast.Delete):
        targets = node.targets
      for target in targets:
        if isinstance(target, ast.Name):
          local.add(target.id)
        if isinstance(target, (ast.Subscript, ast.Attribute)) and isinstance(
            target.value, ast.Name):
          name = target.value.id
          if name in names and name not in local:
            found.append(f'{where}:{node.lineno} {function.name} changes module-level {name}')
          if name in modules and isinstance(target, ast.Attribute) and name not in local:
            found.append(f'{where}:{node.lineno} {function.name} sets {name}.{target.attr}')
      if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr in _MUTATORS and isinstance(node.func.value, ast.Name)
          and node.func.value.id in names and node.func.value.id not in local):
        found.append(f'{where}:{node.lineno} {function.name} calls '
                     f'{node.func.value.id}.{node.func.attr}')
  return found


def test_library_modules_keep_no_run_time_state():
  found = []
  for path in _library_files():
    with open(path, encoding='utf-8') as f:
      found += run_time_state(path, f.read())
  assert not found, 'module-level state changed at run time:\n' + '\n'.join(found)


def test_every_allowed_memo_still_exists():
  for entry in MEMOISED:
    path, name = entry.split(':')
    with open(os.path.join(ROOT, path), encoding='utf-8') as f:
      assert f'def {name}(' in f.read(), entry


def test_the_check_finds_each_kind_of_state():
  source = '''
import functools
from somewhere import other
CACHE = {}
ITEMS = []
COUNT = 0
def a(key):
  CACHE[key] = 1
def b():
  ITEMS.append(1)
def c():
  global COUNT
  COUNT += 1
def d():
  other.VALUE = 2
@functools.lru_cache(maxsize=None)
def e(x):
  return x
def fine(CACHE):
  CACHE[0] = 1
  items = []
  items.append(1)
'''
  found = run_time_state(os.path.join(ROOT, 'example.py'), source)
  assert len(found) == 5, found
  assert not any(' fine ' in line for line in found), found
