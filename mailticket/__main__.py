from mailticket.cli import main

main()
