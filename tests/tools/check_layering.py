#!/usr/bin/python3
"""The module map of docs/architecture.md, checked: every #include between core modules points down the
layering, core includes no Qt and nothing of ui/ or app/, and ui/ never reaches app/. Prints one line per
violation and exits 1 when there is any."""
import os
import re
import sys

# Module -> the modules it may include (besides itself). Keep in step with docs/architecture.md.
ALLOWED = {
    'base': set(),
    'graph': {'base'},
    'runtime': {'base', 'graph'},
    'io': {'base', 'graph', 'runtime', 'quant'},
    'quant': {'base', 'graph'},
    'analysis': {'base', 'graph', 'runtime', 'io'},
    'train': {'base', 'graph', 'runtime', 'io', 'quant'},
    'compress': {'base', 'graph', 'runtime', 'io', 'quant', 'analysis', 'train'},
    'project': {'base', 'graph', 'runtime', 'io', 'quant', 'analysis', 'train', 'compress', 'lm'},
    'lm': {'base', 'graph', 'runtime', 'io', 'quant', 'analysis', 'train', 'compress'},
    'cluster': {'base', 'graph', 'runtime', 'io', 'quant', 'analysis', 'train', 'compress', 'project', 'lm'},
}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
QT = re.compile(r'^(Q[A-Za-z]+|Qt[A-Za-z]*/.*|qcustomplot\.h)$')


def main(root):
    problems = []
    for top in ('core', 'ui', 'app'):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in files:
                if not name.endswith(('.h', '.cpp')):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                parts = rel.split(os.sep)
                module = parts[1] if top == 'core' and len(parts) > 2 else None
                if top == 'core' and module not in ALLOWED:
                    problems.append(f'{rel}: core/ files live in a module folder ({", ".join(sorted(ALLOWED))})')
                    continue
                for lineno, line in enumerate(open(path, encoding='utf-8'), 1):
                    m = INCLUDE.match(line)
                    if not m:
                        continue
                    kind, target = m.groups()
                    where = f'{rel}:{lineno}: includes {target}'
                    if top == 'core':
                        if kind == '<' and QT.match(target):
                            problems.append(f'{where}: core/ links no Qt')
                        elif target.startswith(('ui/', 'app/')):
                            problems.append(f'{where}: core/ must not depend on the front ends')
                        elif target.startswith('core/'):
                            dep = target.split('/')[1]
                            if dep != module and dep not in ALLOWED.get(module, set()):
                                problems.append(f'{where}: core/{module} may include only '
                                                f'{", ".join(sorted(ALLOWED[module])) or "nothing else in core"}')
                    elif top == 'ui' and target.startswith('app/'):
                        problems.append(f'{where}: ui/ must not depend on app/')
    for p in problems:
        print(p)
    print(f'layering: {len(problems)} violation(s)')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..', '..')))
