#!/usr/bin/env bash
# Prepares .device/ for tools/device-check.sh on a GPU machine that has no .NET SDK: a copy of this machine's .NET
# runtime (with ASP.NET Core's), copal published (framework-dependent), the three test assemblies with xunit's console
# runner, and the few files of ../shared/data the GPU tests read, as two xz archives of about 36 MiB; the folder
# is git-ignored and carried to the device.
set -euo pipefail
cd "$(dirname "$0")/.."
out=.device
rm -rf "$out"
mkdir -p "$out/tests" "$out/data/models" "$out/data/text" "$out/data/tokenizers"
grep -qx '/.device/' .git/info/exclude 2>/dev/null || echo '/.device/' >> .git/info/exclude

dotnet publish src/Copal.Cli -c Release -o "$out/copal" --nologo -v q
for t in Copal.Tensors.Tests Copal.Model.Tests Copal.Prune.Tests; do
  dotnet build "tests/$t" -c Release --nologo -v q
  cp -r "tests/$t/bin/Release/net10.0" "$out/tests/$t"
done

# xunit 2's console runner (the SDK's `dotnet test` is not on the device machine).
runner=$(mktemp -d)
trap 'rm -rf "$runner"' EXIT
cat > "$runner/runner.csproj" <<'XML'
<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework><ManagePackageVersionsCentrally>false</ManagePackageVersionsCentrally></PropertyGroup>
  <ItemGroup><PackageReference Include="xunit.runner.console" Version="2.4.1" /></ItemGroup>
</Project>
XML
dotnet restore "$runner/runner.csproj" --nologo -v q --packages "$runner/packages"
cp -r "$runner/packages/xunit.runner.console/2.4.1/tools/netcoreapp2.0" "$out/xunit"

root=$(dirname "$(readlink -f "$(command -v dotnet)")")
# copal needs ASP.NET Core's shared framework too (`copal serve`); without it the host refuses to start copal at all.
frameworks=()
for f in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
  v=$(dotnet --list-runtimes | awk -v f="$f" '$1 == f { v = $2 } END { print v }')
  [ -n "$v" ] || { echo "no $f runtime in this SDK" >&2; exit 1; }
  frameworks+=("shared/$f/$v")
done
# xz, not gzip: the device tool carries at most 64 MiB together with the tracked tree (about 20 MB, the testbed
# model), and gzip made 65 MB of this alone. xz's large window also stores the DLLs the test folders share once.
tar cf - -C "$root" dotnet host "${frameworks[@]}" | xz -9 > "$out/dotnet.txz"

data=../shared/data
cp -r "$data/models/stories260K" "$out/data/models/"
cp -r "$data/text/wikitext-2-raw-v1" "$data/text/tinystories" "$out/data/text/"
cp -r "$data/tokenizers/llama2" "$out/data/tokenizers/"
tar cf - -C "$out" copal tests xunit data | xz -9 > "$out/payload.txz"
rm -rf "$out/copal" "$out/tests" "$out/xunit" "$out/data"
bundle=$(du -sb "$out" | cut -f1)
# What travels beside it: tracked files and untracked ones git does not ignore. One du over the whole list: through
# xargs, a list longer than one command line (128 KiB of names) would be split, and `tail -1` would keep only the last
# part's total.
tracked=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
echo "$out: $((bundle / 1024 / 1024)) MiB; with the working tree $(((bundle + tracked) / 1024 / 1024)) MiB of the 64 MiB that travel"
[ $((bundle + tracked)) -le $((64 * 1024 * 1024)) ] || { echo "too large for the device tool: $((bundle + tracked)) bytes" >&2; exit 1; }
