#!/usr/bin/env bash
# Prepares .device/ for tools/device-check.sh on a GPU machine that has no .NET SDK: a copy of this machine's .NET
# runtime, copal published (framework-dependent), the three test assemblies with xunit's console runner, and the
# few files of ../shared/data the GPU tests read, as two archives of about 50 MB; the folder is git-ignored and carried to the device.
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
version=$(dotnet --list-runtimes | awk '$1 == "Microsoft.NETCore.App" { v = $2 } END { print v }')
tar czf "$out/dotnet.tgz" -C "$root" dotnet host "shared/Microsoft.NETCore.App/$version"

data=../shared/data
cp -r "$data/models/stories260K" "$out/data/models/"
cp -r "$data/text/wikitext-2-raw-v1" "$data/text/tinystories" "$out/data/text/"
cp -r "$data/tokenizers/llama2" "$out/data/tokenizers/"
# One compressed payload: the device tool carries at most 64 MiB of working tree.
tar czf "$out/payload.tgz" -C "$out" copal tests xunit data
rm -rf "$out/copal" "$out/tests" "$out/xunit" "$out/data"
du -sh "$out"
