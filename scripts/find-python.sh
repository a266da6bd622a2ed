#!/usr/bin/env sh
# Prints the path of a Python 3.13 interpreter: python3.13 on PATH, else one installed through pyenv.
# Exits non-zero with a clear message when there is none.
set -u
if command -v python3.13 >/dev/null 2>&1 && python3.13 -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1; then
  command -v python3.13
  exit 0
fi
if command -v pyenv >/dev/null 2>&1; then
  for version in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.13(\.|$)' | sort -t. -k3 -n -r); do
    candidate="$(pyenv root)/versions/$version/bin/python3.13"
    if [ -x "$candidate" ]; then
      echo "$candidate"
      exit 0
    fi
  done
fi
echo "Python 3.13 is required but was not found: install it (python3.13 on PATH, or 'pyenv install 3.13')." >&2
exit 1
