from weightlight.cli import main

main()
