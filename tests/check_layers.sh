#!/bin/sh
# The layering of src/: no file includes a header of a layer above its own.
#
#   common < serde < state < topology < task < { dsl, driver, coord } < ops
#
# and besides: src/dsl includes nothing from src/task or src/coord; nothing
# outside src/driver includes from src/driver, nothing outside src/coord
# and src/ops (the HTTP endpoint over the application) from src/coord
# (they sit on top: nothing calls them). Every offending
# include is named with its file. Usage: check_layers.sh [SRC_DIR]
set -eu
src="${1:-$(dirname "$0")/../src}"
cd "$src"

layer() {
        case "$1" in
        common) echo 0 ;;
        serde) echo 1 ;;
        state) echo 2 ;;
        topology) echo 3 ;;
        task) echo 4 ;;
        dsl | driver | coord) echo 5 ;;
        ops) echo 6 ;;
        *) echo -1 ;;
        esac
}

report=""
files=0
for f in $(find . -type f \( -name '*.c' -o -name '*.h' \) | sort); do
        file=${f#./}
        dir=$(dirname "$file")
        from=${file%%/*}
        files=$((files + 1))
        if [ "$(layer "$from")" -lt 0 ]; then
                report="$report
src/$file: src/$from is in no layer (add it to tests/check_layers.sh)"
                continue
        fi
        for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file"); do
                # Relative to the file, else to src/; anything else (the
                # public headers, generated ones) is not internal.
                if [ -e "$dir/$inc" ]; then
                        target=$(realpath -m --relative-to=. "$dir/$inc")
                elif [ -e "$inc" ]; then
                        target=$(realpath -m --relative-to=. "$inc")
                else
                        continue
                fi
                case "$target" in
                ../*) continue ;; # outside src/
                */*) ;;
                *) continue ;;
                esac
                to=${target%%/*}
                [ "$to" = "$from" ] && continue
                why=""
                if [ "$(layer "$to")" -gt "$(layer "$from")" ]; then
                        why="src/$to is a higher layer than src/$from"
                elif [ "$from" = dsl ] &&
                        { [ "$to" = task ] || [ "$to" = coord ]; }; then
                        why="src/dsl includes nothing from src/$to"
                elif [ "$to" = driver ]; then
                        why="only src/driver includes from src/driver"
                elif [ "$to" = coord ] && [ "$from" != ops ]; then
                        why="only src/coord and src/ops include from src/coord"
                fi
                [ -n "$why" ] && report="$report
src/$file: #include \"$inc\": $why"
        done
done

[ "$files" -gt 30 ] || { echo "only $files files found below $src"; exit 1; }
if [ -n "$report" ]; then
        echo "layering violations:$report"
        exit 1
fi
echo "ok: $files files, every include within the layers"
